export { NnError } from './errors.js';
export { conv2d, linear, groupNorm, layerNorm, silu, gelu, attention, upsampleNearest2x } from './layers.js';
export type { Conv2dOptions, Conv2dPadding, GroupNormOptions } from './layers.js';
export type { NormActivation } from './fused.js';
export {
  conv2dSpecs,
  linearSpecs,
  normSpecs,
  initParams,
  countParameters,
  checkParams,
  toVariables,
  disposeParams,
} from './params.js';
export type { ParamTree, ParamKind, ParamInit, ParamSpec, WeightEntry } from './params.js';
export { splitMoments } from './moments.js';
export type { SplitMomentsOptions } from './moments.js';
