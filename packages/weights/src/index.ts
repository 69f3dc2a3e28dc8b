export { WeightsError } from './errors.js';
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
