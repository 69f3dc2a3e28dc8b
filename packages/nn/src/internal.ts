/*
 * Internals of @gq/nn for sibling packages (@gq/weights), tests and benches: the weight-matching
 * and layout machinery behind `@gq/weights`. Not part of the public API; may change in any release.
 */
export { oihwToHwio, hwioToOihw, transposeMatrix } from './layout.js';
export {
  internalShape,
  torchDefaultBound,
  matchWeights,
  formatWeightReport,
  isCleanReport,
  weightToFloat32,
  weightsToParams,
  paramsToWeights,
} from './params.js';
export type { Float32Weight, WeightReport } from './params.js';
export {
  normKernelName,
  normGradKernelName,
  upsampleKernelName,
  upsampleGradKernelName,
  geluKernelName,
  geluGradKernelName,
  hasFusedKernel,
} from './fused.js';
export type { NormKernelAttrs, NormActivation } from './fused.js';
