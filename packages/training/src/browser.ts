/*
 * The browser-safe part of @gq/training: everything here imports no node:* module (a test walks the
 * import graph), so a page can train in its own thread with the same replica gq-train runs.
 */
export { resolveConfig, rate, describeBottleneck } from './config.js';
export type { ConfigInput, RunRate, TrainConfig } from './config.js';
export { createReplica, combineStepStats, noiseSeed } from './replica.js';
export type { CombinedStats, ReplicaOptions, StepStats, TrainingReplicaTypes } from './replica.js';
export { TrainedModel } from './model.js';
export type { WeightArrays } from './model.js';
