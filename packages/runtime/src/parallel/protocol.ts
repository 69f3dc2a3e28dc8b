import type * as tf from '@tensorflow/tfjs-core';

/** A named array sent to a replica: plain data, so it can cross a thread boundary. */
export interface ArrayData {
  readonly shape: readonly number[];
  readonly data: Float32Array | Int32Array;
}

/** One worker's part of a global batch. */
export type Shard = Readonly<Record<string, ArrayData>>;

/** What a replica returns for its shard. */
export interface ReplicaGradients {
  /** Scalar loss of this shard (the mean over its examples). */
  readonly loss: number;
  /** One gradient per trainable variable, in `variables` order; the harness disposes them. */
  readonly grads: readonly tf.Tensor[];
  /** JSON-compatible statistics from the same forward pass (e.g. TDC rate sums), combined across workers. */
  readonly stats?: unknown;
}

/**
 * A model replica, created in every worker by `createReplica` from the replica module. All replicas are
 * built from the same seed, receive the same averaged gradients and the same combined statistics, and
 * so stay bit-identical.
 */
export interface Replica {
  /** Trainable variables in a fixed order (the same on every replica). */
  readonly variables: readonly tf.Variable[];
  computeGradients(shard: Shard): Promise<ReplicaGradients> | ReplicaGradients;
  /** Apply the averaged gradients (and the combined statistics) exactly as a single process would. */
  applyGradients(grads: readonly tf.Tensor[], combined: unknown): Promise<void> | void;
  /** JSON-compatible extra state (optimizer slots, controller state) for checkpoints. */
  getState?(): Promise<ReplicaState> | ReplicaState;
  setState?(state: ReplicaState): Promise<void> | void;
  /** Any other request from the main thread (evaluation, export); the result must be cloneable. */
  call?(method: string, args: unknown): Promise<unknown> | unknown;
  dispose(): void;
}

/** Replica state that crosses threads: named arrays plus JSON. */
export interface ReplicaState {
  readonly arrays: Readonly<Record<string, ArrayData>>;
  readonly json: unknown;
}

export interface ReplicaContext {
  /** 0-based worker index (only for logging: replicas must not behave differently). */
  readonly workerIndex: number;
  readonly workerCount: number;
  /** The caller's `replicaOptions`. */
  readonly options: unknown;
}

/** The module a worker imports must export `createReplica`. */
export type CreateReplica = (context: ReplicaContext) => Promise<Replica> | Replica;

export type ToWorker =
  | { readonly kind: 'grads'; readonly id: number; readonly shard: Shard }
  | { readonly kind: 'apply'; readonly id: number; readonly grads: Float32Array; readonly combined: unknown }
  | { readonly kind: 'get-state'; readonly id: number }
  | { readonly kind: 'set-state'; readonly id: number; readonly state: ReplicaState }
  | { readonly kind: 'call'; readonly id: number; readonly method: string; readonly args: unknown }
  | { readonly kind: 'close'; readonly id: number };

export type FromWorker =
  | { readonly kind: 'ready'; readonly sizes: readonly number[]; readonly backend: string }
  | { readonly kind: 'result'; readonly id: number; readonly value: unknown }
  | { readonly kind: 'grads'; readonly id: number; readonly loss: number; readonly grads: Float32Array; readonly stats: unknown }
  | { readonly kind: 'error'; readonly id: number; readonly message: string; readonly stack?: string };
