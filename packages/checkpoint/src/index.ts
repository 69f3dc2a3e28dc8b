export { CheckpointError } from './errors.js';
export type { CheckpointErrorCode } from './errors.js';
export type { CheckpointDtype, CheckpointTensor, CheckpointTypedArray, CheckpointTypedArrayFor } from './dtypes.js';
export { allowedGlobals } from './allow-list.js';
export { readTorchCheckpoint } from './read-checkpoint.js';
export type { CheckpointLimits, CheckpointValue, ReadTorchCheckpointOptions, TorchCheckpoint } from './read-checkpoint.js';
