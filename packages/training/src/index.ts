export { TrainError } from './errors.js';
export { methodRegistry, methodSpec, methods, rateControlLabel, codebookOf, fsqLevelsFor, fsqPaperLevels } from './methods.js';
export type { Method, MethodSpec, RateControl, BottleneckParameters } from './methods.js';
export {
  archs,
  resolveConfig,
  REFERENCE_TDC_FACTOR,
  DEFAULT_BATCH,
  DEFAULT_STEPS,
  rate,
  describeBottleneck,
  positionsPerImage,
  tokensPerPosition,
  bitsPerPosition,
} from './config.js';
export type { Arch, Backbone, BottleneckConfig, ConfigInput, RunRate, TrainConfig } from './config.js';
export { initBackbone } from './backbone.js';
export { trainRun, batchIndices, batchShards, checkpointName, replicaModuleUrl } from './train.js';
export type { RunOptions, TrainOutcome } from './train.js';
export { combineStepStats, noiseSeed } from './replica.js';
export type { CombinedStats, QuantizerStepStats, ReplicaOptions, StepStats, TrainedCodebook, TrainingReplicaTypes } from './replica.js';
export { TrainedModel } from './model.js';
export type { WeightArrays } from './model.js';
export { evaluate } from './evaluate.js';
export type { Evaluation, IndexUsage, ReconstructionScores } from './evaluate.js';
export { evaluateAndExport } from './finish.js';
export type { FinishedRun } from './finish.js';
export { exportArtifact } from './export.js';
export type { ExportedArtifact } from './export.js';
export { saveCheckpoint, loadCheckpoint, checkpointFormat, checkpointVersion } from './checkpoint.js';
export type { Checkpoint } from './checkpoint.js';
export {
  loadDataset,
  loadCifar10,
  loadImageFolder,
  loadIdxImages,
  loadPhotos,
  defaultPhotosDir,
  parseIdx,
  splitImages,
  seededPermutation,
  toModelInput,
  debianFashionMnist,
} from './datasets/index.js';
export type { ImageSet, PhotoOptions } from './datasets/index.js';
export { lockOutputFolder, truncateMetrics, watchLauncher } from './files.js';
export { imageGrid } from './grid.js';
