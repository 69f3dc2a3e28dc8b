export { SafetensorsError } from './errors.js';
export { parseSafetensors, serializeSafetensors, safetensorsDtypes, safetensorsDtypeBytes } from './safetensors.js';
export type { ParseSafetensorsOptions, SafetensorsLimits, SafetensorsDtype, SafetensorsEntry, SafetensorsFile, TensorRecord, TypedArrayFor } from './safetensors.js';
