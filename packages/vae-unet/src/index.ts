export { VaeUnetError } from './errors.js';
export { unetPresets, downsamplingFactor, validateUnetConfig, unetConfigFromReference } from './config.js';
export type { UnetConfig, UnetPresetName } from './config.js';
export { init, encode, encodeMoments, decode, parameterCount } from './model.js';
export type { EncodeOptions, Moments, ParameterCount } from './model.js';
export { encoderSpecs, decoderSpecs, unetSpecs } from './specs.js';
export { exportWeights, importWeights, importCheckpoint } from './weights.js';
export type { WeightSource, ImportOptions, CheckpointImportOptions, ExportOptions } from './weights.js';
