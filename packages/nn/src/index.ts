export { NnError } from './errors.js';
export { createRng } from './rng.js';
export type { Rng } from './rng.js';
export { oihwToHwio, hwioToOihw, transposeMatrix } from './layout.js';
export { conv2d, linear, groupNorm, layerNorm, silu, gelu, attention, upsampleNearest2x } from './layers.js';
export type { Conv2dOptions, Conv2dPadding } from './layers.js';
export {
  internalShape,
  torchDefaultBound,
  conv2dSpecs,
  linearSpecs,
  normSpecs,
  initParams,
  countParameters,
  matchWeights,
  formatWeightReport,
  isCleanReport,
  weightToFloat32,
  weightsToParams,
  paramsToWeights,
  checkParams,
  toVariables,
  disposeParams,
} from './params.js';
export type { ParamTree, ParamKind, ParamInit, ParamSpec, WeightEntry, Float32Weight, WeightReport } from './params.js';
