export { NnError } from './errors.js';
export type { ErrorClass } from './errors.js';
export { createRng, seededUniform } from './rng.js';
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
export { constantOf, straightThrough, stopGradient } from './gradient.js';
export { logVarRange, splitMoments } from './moments.js';
export type { SplitMomentsOptions } from './moments.js';
export { exportParams, importParams, importCheckpointParams, modelWeights } from './weights-io.js';
export type {
  Caller,
  CheckpointImportOptions,
  ExportOptions,
  ImportOptions,
  ModelDescription,
  ModelWeights,
  WeightSource,
} from './weights-io.js';
