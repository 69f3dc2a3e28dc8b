import type * as tf from '@tensorflow/tfjs-core';
import type { AnyCalls, CallArgs, CallResult } from './pool.js';

/** A named array sent to a replica: plain data, so it can cross a thread boundary. */
export interface ArrayData {
  /** Array shape, e.g. [B, H, W, C]. */
  readonly shape: readonly number[];
  /** Row-major values. */
  readonly data: Float32Array | Int32Array;
}

/** One worker's part of a global batch. */
export type Shard = Readonly<Record<string, ArrayData>>;

/**
 * The types a replica and its trainer agree on; every field is optional and defaults to untyped.
 *
 * ```ts
 * interface MyTypes {
 *   stats: { sum: number; count: number };        // from computeGradients
 *   combined: { mean: number };                     // from combine, into applyGradients
 *   calls: { encode: { args: { images: Float32Array }; result: { mu: Float32Array } } };
 *   options: { seed: number };                      // replicaOptions → context.options
 * }
 * ```
 */
export interface ReplicaTypes {
  /** Statistics of one shard (`ReplicaGradients.stats`). */
  readonly stats?: unknown;
  /** The combined statistics every replica applies (`combine`'s result). */
  readonly combined?: unknown;
  /** The requests `trainer.call` sends: `{ name: { args; result } }`. */
  readonly calls?: object;
  /** `replicaOptions`, as `context.options`. */
  readonly options?: unknown;
}

/** `P['stats']`, or `unknown` when `P` does not declare it. */
export type StatsOf<P> = P extends { readonly stats: infer S } ? S : unknown;
/** `P['combined']`, or `unknown` when `P` does not declare it. */
export type CombinedOf<P> = P extends { readonly combined: infer C } ? C : unknown;
/** `P['calls']`, or any name with untyped values when `P` does not declare it. */
export type CallsOf<P> = P extends { readonly calls: infer C } ? C : AnyCalls;
/** `P['options']`, or `unknown` when `P` does not declare it. */
export type OptionsOf<P> = P extends { readonly options: infer O } ? O : unknown;

/** What a replica returns for its shard; `stats` is required when `Stats` is declared. */
export type ReplicaGradients<Stats = unknown> = {
  /** Scalar loss of this shard (the mean over its examples). */
  readonly loss: number;
  /** One gradient per trainable variable, in `variables` order; the harness disposes them. */
  readonly grads: readonly tf.Tensor[];
} & (unknown extends Stats
  ? {
      /** Structured-cloneable statistics from the same forward pass (e.g. TDC rate sums), combined across workers. */
      readonly stats?: Stats;
    }
  : {
      /** Structured-cloneable statistics from the same forward pass (e.g. TDC rate sums), combined across workers. */
      readonly stats: Stats;
    });

/** One handler per request of `C`, run on replica 0 by `trainer.call`; results must be structured-cloneable. */
export type ReplicaCallHandlers<C> = {
  readonly [K in keyof C]: (args: CallArgs<C, K>) => Promise<CallResult<C, K>> | CallResult<C, K>;
};

/**
 * A model replica, created in every worker by `createReplica` from the replica module. All replicas are
 * built from the same seed, receive the same averaged gradients and the same combined statistics, and
 * so stay bit-identical. `P` (see `ReplicaTypes`) types the statistics and the requests.
 */
export interface Replica<P extends ReplicaTypes = ReplicaTypes> {
  /** Trainable variables in a fixed order (the same on every replica). */
  readonly variables: readonly tf.Variable[];
  /** Loss, gradients and statistics of one shard; must not change the variables. */
  computeGradients(shard: Shard): Promise<ReplicaGradients<StatsOf<P>>> | ReplicaGradients<StatsOf<P>>;
  /** Apply the averaged gradients (and the combined statistics) exactly as a single process would. */
  applyGradients(grads: readonly tf.Tensor[], combined: CombinedOf<P>): Promise<void> | void;
  /** Structured-cloneable extra state (optimizer slots, controller state) for checkpoints. */
  getState?(): Promise<ReplicaState> | ReplicaState;
  /** Restore what `getState` returned. */
  setState?(state: ReplicaState): Promise<void> | void;
  /** Typed handlers for `trainer.call(name, args)` (evaluation, export), one per request of `P['calls']`. */
  readonly calls?: ReplicaCallHandlers<CallsOf<P>>;
  /** Untyped handler for requests that `calls` does not name; the result must be structured-cloneable. */
  call?(method: string, args: unknown): Promise<unknown> | unknown;
  /** Free the replica's tensors. */
  dispose(): void;
}

/** Replica state that crosses threads: named arrays plus JSON. */
export interface ReplicaState {
  /** Named arrays (variables are stored under `variable:<index>:<name>`). */
  readonly arrays: Readonly<Record<string, ArrayData>>;
  /** Any JSON-compatible state of the replica (`getState().json`). */
  readonly json: unknown;
}

/** What `createReplica` is given in every worker. */
export interface ReplicaContext<Options = unknown> {
  /** 0-based worker index (only for logging: replicas must not behave differently). */
  readonly workerIndex: number;
  /** Number of replicas. */
  readonly workerCount: number;
  /** The caller's `replicaOptions`. */
  readonly options: Options;
}

/** The module a worker imports must export `createReplica`. */
export type CreateReplica<P extends ReplicaTypes = ReplicaTypes> = (
  context: ReplicaContext<OptionsOf<P>>,
) => Promise<Replica<P>> | Replica<P>;
