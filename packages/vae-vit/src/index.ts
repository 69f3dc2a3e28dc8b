export { VaeVitError } from './errors.js';
export { vitPresets, tokenCount, mlpWidth, validateVitConfig, vitConfigFromReference } from './config.js';
export type { VitConfig, VitPresetName } from './config.js';
export { init, encode, encodeMoments, decode, parameterCount } from './model.js';
export type { EncodeOptions, Moments, ParameterCount } from './model.js';
export { encoderSpecs, decoderSpecs, vitSpecs } from './specs.js';
export { exportWeights, importWeights, importCheckpoint } from './weights.js';
export type { WeightSource, ImportOptions, CheckpointImportOptions, ExportOptions } from './weights.js';
