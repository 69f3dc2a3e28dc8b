/**
 * Numerical building blocks of @gq/metrics for its tests and benches. Not part of the public API;
 * they may change in any release.
 */
export { symmetricEigen } from './symmetric-eigen.js';
export type { SymmetricEigen } from './symmetric-eigen.js';
export { gaussianTaps } from './gaussian-window.js';
