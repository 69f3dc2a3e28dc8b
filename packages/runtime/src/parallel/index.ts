export { DataParallelTrainer } from './trainer.js';
export type { DataParallelOptions, StepResult } from './trainer.js';
export type {
  ArrayData,
  CreateReplica,
  Replica,
  ReplicaContext,
  ReplicaGradients,
  ReplicaState,
  Shard,
} from './protocol.js';
