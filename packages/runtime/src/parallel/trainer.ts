import type { BackendName } from '../backend.js';
import { RuntimeError } from '../errors.js';
import { WorkerPool, type CallArgs, type CallName, type CallResult, type WorkerService } from './pool.js';
import type { CallsOf, CombinedOf, OptionsOf, ReplicaState, ReplicaTypes, Shard, StatsOf } from './protocol.js';
import type { ReplicaWorkerCalls, ReplicaWorkerOptions } from './replica-worker.js';
import { moduleUrl, siblingModule } from './source.js';
import { isTransferred } from './transfer.js';

/** Options of `DataParallelTrainer.create`; `P` (see `ReplicaTypes`) types the statistics and options. */
export interface DataParallelOptions<P extends ReplicaTypes = ReplicaTypes> {
  /** Module (path or file URL) exporting `createReplica(context)`; imported by every worker. */
  readonly replicaModule: string | URL;
  /** Number of worker threads (default 2). With 1, the replica runs in the calling thread. */
  readonly workers?: number;
  /** Backend each worker starts (default 'wasm'). */
  readonly backend?: BackendName;
  /** Passed to `createReplica` as `context.options`; must be structured-cloneable. Default undefined. */
  readonly replicaOptions?: OptionsOf<P>;
  /**
   * Merge the per-worker statistics of one step into the value every replica receives in
   * `applyGradients` (e.g. `combineStats` of @gq/tdc); `weights` are the shards' example fractions.
   * Default: the array of statistics (so declare `combined` as `Stats[]` or pass `combine`).
   */
  readonly combine?: (stats: readonly StatsOf<P>[], weights: readonly number[]) => CombinedOf<P>;
}

/**
 * Where one step's time went, in milliseconds. Workers run in parallel, so the step's wall time is
 * about the slowest worker's compute + pack, then averaging, then the slowest apply; the rest of
 * `totalMs` is messaging and waiting.
 */
export interface StepTiming {
  /** Wall time of the whole step in the calling thread. */
  readonly totalMs: number;
  /** Per worker: the replica's `computeGradients`. */
  readonly computeMs: readonly number[];
  /** Per worker: packing the gradients into one vector and checking them. */
  readonly packMs: readonly number[];
  /** Averaging the gradients and combining the statistics (calling thread). */
  readonly averageMs: number;
  /** Per worker: unpacking the average and the replica's `applyGradients`. */
  readonly applyMs: readonly number[];
}

/** What one `DataParallelTrainer.step` did. */
export interface StepResult<Combined = unknown> {
  /** Example-weighted mean of the shard losses. */
  readonly loss: number;
  /** The combined statistics that every replica applied. */
  readonly combined: Combined;
  /** Where the step's time went. */
  readonly timing: StepTiming;
}

/** Examples in a shard: the leading dimension of its first array. */
function shardSize(shard: Shard): number {
  const first = Object.values(shard)[0];
  if (first === undefined) throw new RuntimeError('bad-shard', 'step: every shard must hold at least one array');
  return first.shape[0] ?? 1;
}

/** The replica workers: a pool of threads, or one replica served in the calling thread. */
type Replicas =
  | { readonly kind: 'pool'; readonly pool: WorkerPool<ReplicaWorkerCalls> }
  | { readonly kind: 'local'; readonly service: WorkerService<ReplicaWorkerCalls> };

async function ask<K extends CallName<ReplicaWorkerCalls>>(
  replicas: Replicas,
  worker: number,
  method: K,
  args: CallArgs<ReplicaWorkerCalls, K>,
): Promise<CallResult<ReplicaWorkerCalls, K>> {
  if (replicas.kind === 'pool') return replicas.pool.request(worker, method, ...([args] as [CallArgs<ReplicaWorkerCalls, K>]));
  const handler = replicas.service.handlers[method] as (args: CallArgs<ReplicaWorkerCalls, K>) => unknown;
  const value = await handler(args);
  return (isTransferred(value) ? value.value : value) as CallResult<ReplicaWorkerCalls, K>;
}

/**
 * Data-parallel training over worker threads, each with its own tfjs backend (wasm in Node runs one
 * thread per instance, so two workers use both cores). Every step: each worker computes gradients
 * on its shard; the calling thread averages them (weighted by shard size, in worker order, so the
 * result is deterministic), combines the statistics, and every replica applies the same update.
 *
 * `P` (see `ReplicaTypes`) types the statistics, the combined statistics, `replicaOptions` and
 * `call`; without it everything is `unknown`.
 */
export class DataParallelTrainer<P extends ReplicaTypes = ReplicaTypes> {
  private constructor(
    private readonly replicas: Replicas,
    private readonly workers: number,
    private readonly combine: (stats: readonly StatsOf<P>[], weights: readonly number[]) => CombinedOf<P>,
    /** Number of trainable parameters of one replica. */
    readonly parameterCount: number,
    /** The backend the replicas run on. */
    readonly backend: string,
  ) {}

  /** Number of replicas (one shard each per step). */
  get workerCount(): number {
    return this.workers;
  }

  /**
   * Start the replicas and check that they hold identical variables.
   * @throws RuntimeError `bad-workers`, `worker-start` (a replica module that cannot load or throws),
   *   `replica-mismatch`.
   */
  static async create<P extends ReplicaTypes = ReplicaTypes>(options: DataParallelOptions<P>): Promise<DataParallelTrainer<P>> {
    const workers = options.workers ?? 2;
    if (!Number.isInteger(workers) || workers < 1) {
      throw new RuntimeError('bad-workers', `DataParallelTrainer.create: workers must be a positive integer, got ${workers}`);
    }
    const setup: ReplicaWorkerOptions = {
      replicaModule: moduleUrl(options.replicaModule),
      backend: options.backend ?? 'wasm',
      replicaOptions: options.replicaOptions,
    };
    const combine = options.combine ?? ((stats: readonly StatsOf<P>[]) => stats as CombinedOf<P>);
    let replicas: Replicas;
    if (workers === 1) {
      const { createWorker } = await import('./replica-worker.js');
      replicas = { kind: 'local', service: await createWorker({ workerIndex: 0, workerCount: 1, options: setup }) };
    } else {
      const pool = await WorkerPool.create<ReplicaWorkerCalls, ReplicaWorkerOptions>({
        module: siblingModule('replica-worker', import.meta.url),
        workers,
        options: setup,
        name: 'data-parallel',
      });
      replicas = { kind: 'pool', pool };
    }
    const described = await Promise.all(Array.from({ length: workers }, (_, i) => ask(replicas, i, 'describe', undefined)));
    const sizes = described[0]!.sizes;
    if (described.some((d) => d.sizes.join(',') !== sizes.join(','))) {
      if (replicas.kind === 'pool') await replicas.pool.close();
      throw new RuntimeError('replica-mismatch', 'DataParallelTrainer.create: replicas must have identical variables');
    }
    const parameterCount = sizes.reduce((a, b) => a + b, 0);
    return new DataParallelTrainer<P>(replicas, workers, combine, parameterCount, described[0]!.backend);
  }

  /**
   * One optimiser step over `shards` (exactly one per worker). Returns the example-weighted loss
   * and the combined statistics.
   * @throws RuntimeError when a worker fails or a loss is not finite (no update is applied then).
   */
  async step(shards: readonly Shard[]): Promise<StepResult<CombinedOf<P>>> {
    if (shards.length !== this.workers) {
      throw new RuntimeError('bad-shards', `step: needs one shard per worker (${this.workers}), got ${shards.length}`);
    }
    const counts = shards.map(shardSize);
    const total = counts.reduce((a, b) => a + b, 0);
    const weights = counts.map((n) => n / total);
    const start = performance.now();
    const replies = await Promise.all(shards.map((shard, i) => ask(this.replicas, i, 'gradients', shard)));
    const averaging = performance.now();
    let averaged: Float32Array;
    let loss = 0;
    if (replies.length === 1) {
      averaged = replies[0]!.grads;
      loss = replies[0]!.loss;
    } else {
      averaged = new Float32Array(this.parameterCount);
      for (let w = 0; w < replies.length; w++) {
        const reply = replies[w]!;
        const weight = weights[w]!;
        addScaled(averaged, reply.grads, weight);
        loss += weight * reply.loss;
      }
    }
    const combined = this.combine(
      replies.map((r) => r.stats as StatsOf<P>),
      weights,
    );
    const averageMs = performance.now() - averaging;
    const applyMs = await Promise.all(shards.map((_, i) => ask(this.replicas, i, 'apply', { grads: averaged, combined })));
    const timing: StepTiming = {
      totalMs: performance.now() - start,
      computeMs: replies.map((r) => r.computeMs),
      packMs: replies.map((r) => r.packMs),
      averageMs,
      applyMs,
    };
    return { loss, combined, timing };
  }

  /** State of replica 0 (all replicas are identical). */
  getState(): Promise<ReplicaState> {
    return ask(this.replicas, 0, 'getState', undefined);
  }

  /** Restore every replica to `state` (from `getState`, e.g. on resume). */
  async setState(state: ReplicaState): Promise<void> {
    await Promise.all(Array.from({ length: this.workers }, (_, i) => ask(this.replicas, i, 'setState', state)));
  }

  /**
   * Run request `method` of replica 0 (evaluation, export): its `calls[method]` handler, else its
   * untyped `call(method, args)`. With `P['calls']` declared, `args` and the result are typed.
   */
  async call<K extends CallName<CallsOf<P>>>(
    method: K,
    ...args: undefined extends CallArgs<CallsOf<P>, K> ? [args?: CallArgs<CallsOf<P>, K>] : [args: CallArgs<CallsOf<P>, K>]
  ): Promise<CallResult<CallsOf<P>, K>> {
    const value = await ask(this.replicas, 0, 'call', { method, args: args[0] ?? null });
    return value as CallResult<CallsOf<P>, K>;
  }

  /** Free every replica and stop the worker threads. */
  async dispose(): Promise<void> {
    if (this.replicas.kind === 'local') {
      await this.replicas.service.dispose?.();
      return;
    }
    await this.replicas.pool.close();
  }
}

/** out[i] += weight · values[i] (a small function of its own, so the engine optimises the loop whole). */
function addScaled(out: Float32Array, values: Float32Array, weight: number): void {
  for (let i = 0; i < out.length; i++) out[i] = out[i]! + weight * values[i]!;
}

