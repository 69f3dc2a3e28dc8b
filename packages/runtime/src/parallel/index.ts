export { DataParallelTrainer } from './trainer.js';
export type { DataParallelOptions, StepResult, StepTiming } from './trainer.js';
export type {
  ArrayData,
  CallsOf,
  CombinedOf,
  CreateReplica,
  OptionsOf,
  Replica,
  ReplicaCallHandlers,
  ReplicaContext,
  ReplicaGradients,
  ReplicaState,
  ReplicaTypes,
  Shard,
  StatsOf,
} from './protocol.js';
export { WorkerPool } from './pool.js';
export type {
  AnyCalls,
  CallArgs,
  CallName,
  CallResult,
  CallSpec,
  Calls,
  CreateWorker,
  HandlerReturn,
  RequestInput,
  WorkerContext,
  WorkerHandlers,
  WorkerPoolOptions,
  WorkerService,
} from './pool.js';
export { withTransfer } from './transfer.js';
export type { Transferred } from './transfer.js';
export { ParallelSearch } from './search.js';
export type { ParallelSearchOptions, SearchEngine } from './search.js';
