/*
 * Internals of @gq/checkpoint for tests and benches. Not part of the public API; may change in any
 * release.
 */
export { checkpointDtypes } from './dtypes.js';
