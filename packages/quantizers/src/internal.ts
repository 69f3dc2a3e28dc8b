/**
 * Numerical building blocks of @gq/quantizers for its tests and benches: the float64
 * standard-normal functions behind TokenBridge's tables. Not part of the public API; they may
 * change in any release.
 */
export { normalCdf, normalPdf, normalQuantile, normalMass } from './normal.js';
