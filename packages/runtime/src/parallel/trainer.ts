import { Worker } from 'node:worker_threads';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { RuntimeError } from '../errors.js';
import type { BackendName } from '../backend.js';
import { ReplicaHost } from './host.js';
import type { CreateReplica, FromWorker, ReplicaState, Shard, ToWorker } from './protocol.js';

export interface DataParallelOptions {
  /** Module (path or file URL) exporting `createReplica(context)`; imported by every worker. */
  readonly replicaModule: string | URL;
  /** Number of worker threads (default 2). With 1, the replica runs in the calling thread. */
  readonly workers?: number;
  /** Backend each worker starts (default 'wasm'). */
  readonly backend?: BackendName;
  /** Passed to `createReplica` as `context.options`; must be structured-cloneable. */
  readonly replicaOptions?: unknown;
  /**
   * Merge the per-worker statistics of one step into the value every replica receives in
   * `applyGradients` (e.g. `combineStats` of @gq/tdc). Default: the array of statistics.
   */
  readonly combine?: (stats: readonly unknown[], weights: readonly number[]) => unknown;
}

export interface StepResult {
  /** Example-weighted mean of the shard losses. */
  readonly loss: number;
  /** The combined statistics that every replica applied. */
  readonly combined: unknown;
}

/** Examples in a shard: the leading dimension of its first array. */
function shardSize(shard: Shard): number {
  const first = Object.values(shard)[0];
  if (first === undefined) throw new RuntimeError('bad-shard', 'step: every shard must hold at least one array');
  return first.shape[0] ?? 1;
}

interface Pending {
  resolve(value: FromWorker): void;
  reject(error: Error): void;
}

class WorkerLink {
  private nextId = 0;
  private readonly pending = new Map<number, Pending>();
  private failure: Error | undefined;
  readonly ready: Promise<{ sizes: readonly number[]; backend: string }>;

  constructor(readonly worker: Worker) {
    let markReady: (value: { sizes: readonly number[]; backend: string }) => void = () => undefined;
    let failReady: (error: Error) => void = () => undefined;
    this.ready = new Promise((resolve, reject) => {
      markReady = resolve;
      failReady = reject;
    });
    worker.on('message', (message: FromWorker) => {
      if (message.kind === 'ready') {
        markReady({ sizes: message.sizes, backend: message.backend });
        return;
      }
      if (message.kind === 'error' && message.id === -1) {
        const error = new RuntimeError('worker-start', `data-parallel worker failed to start: ${message.message}`);
        this.fail(error);
        failReady(error);
        return;
      }
      const waiting = this.pending.get(message.id);
      if (waiting === undefined) return;
      this.pending.delete(message.id);
      if (message.kind === 'error') {
        waiting.reject(new RuntimeError('worker-error', `data-parallel worker: ${message.message}`));
      } else {
        waiting.resolve(message);
      }
    });
    const onExit = (error: Error): void => {
      this.fail(error);
      failReady(error);
    };
    worker.on('error', (error) => onExit(new RuntimeError('worker-crashed', `data-parallel worker crashed: ${error.message}`)));
    worker.on('exit', (code) => {
      if (code !== 0) onExit(new RuntimeError('worker-exited', `data-parallel worker exited with code ${code}`));
    });
  }

  private fail(error: Error): void {
    this.failure = error;
    for (const waiting of this.pending.values()) waiting.reject(error);
    this.pending.clear();
  }

  request(message: (id: number) => ToWorker, transfer: ArrayBuffer[] = []): Promise<FromWorker> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise<FromWorker>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage(message(id), transfer);
    });
  }
}

interface WorkerEntry {
  readonly source: URL | string;
  readonly eval: boolean;
  readonly execArgv: string[];
}

function workerEntry(): WorkerEntry {
  if (!import.meta.url.endsWith('.ts')) {
    return { source: new URL('./worker.js', import.meta.url), eval: false, execArgv: process.execArgv };
  }
  // From source (tests, tsx) the worker is TypeScript. Node 20 runs no ESM loader hooks in worker
  // threads, so a small CommonJS bootstrap installs tsx's require hooks and requires the worker
  // (with the '@gq/source' export condition so sibling packages resolve to their sources too).
  const require = createRequire(import.meta.url);
  const tsxCjs = require.resolve('tsx/cjs/api');
  const workerPath = fileURLToPath(new URL('./worker.ts', import.meta.url));
  const bootstrap = `require(${JSON.stringify(tsxCjs)}).register(); require(${JSON.stringify(workerPath)});`;
  const execArgv = [...new Set([...process.execArgv, '--conditions=@gq/source'])];
  return { source: bootstrap, eval: true, execArgv };
}

/**
 * Data-parallel training over worker threads, each with its own tfjs backend (wasm in Node runs one
 * thread per instance, so two workers use both cores). Every step: each worker computes gradients
 * on its shard; the calling thread averages them (weighted by shard size, in worker order, so the
 * result is deterministic), combines the statistics, and every replica applies the same update.
 */
export class DataParallelTrainer {
  private constructor(
    private readonly links: readonly WorkerLink[],
    private readonly local: ReplicaHost | undefined,
    private readonly combine: NonNullable<DataParallelOptions['combine']>,
    readonly parameterCount: number,
    readonly backend: string,
  ) {}

  get workerCount(): number {
    return this.local !== undefined ? 1 : this.links.length;
  }

  static async create(options: DataParallelOptions): Promise<DataParallelTrainer> {
    const workers = options.workers ?? 2;
    if (!Number.isInteger(workers) || workers < 1) {
      throw new RuntimeError('bad-workers', `DataParallelTrainer.create: workers must be a positive integer, got ${workers}`);
    }
    const backend = options.backend ?? 'wasm';
    const moduleUrl =
      options.replicaModule instanceof URL
        ? options.replicaModule.href
        : /^[a-z]+:/.test(options.replicaModule)
          ? options.replicaModule
          : pathToFileURL(options.replicaModule).href;
    const combine = options.combine ?? ((stats: readonly unknown[]) => stats);
    if (workers === 1) {
      const { useBackend } = await import('../backend.js');
      const { ensureGradients } = await import('../gradients.js');
      const { prepareTrainingBackend } = await import('./prepare.js');
      const info = await useBackend(backend);
      await ensureGradients();
      await prepareTrainingBackend();
      const module = (await import(moduleUrl)) as { createReplica?: CreateReplica };
      if (typeof module.createReplica !== 'function') {
        throw new RuntimeError('bad-replica-module', `DataParallelTrainer.create: ${moduleUrl} must export createReplica(context)`);
      }
      const host = await ReplicaHost.create(module.createReplica, {
        workerIndex: 0,
        workerCount: 1,
        options: options.replicaOptions,
      });
      return new DataParallelTrainer([], host, combine, host.total, info.name);
    }
    const entry = workerEntry();
    const links = Array.from({ length: workers }, (_, workerIndex) =>
      new WorkerLink(
        new Worker(entry.source, {
          eval: entry.eval,
          execArgv: entry.execArgv,
          workerData: { replicaModule: moduleUrl, backend, workerIndex, workerCount: workers, options: options.replicaOptions },
        }),
      ),
    );
    let readies: { sizes: readonly number[]; backend: string }[];
    try {
      readies = await Promise.all(links.map((link) => link.ready));
    } catch (error) {
      await Promise.all(links.map((link) => link.worker.terminate()));
      throw error;
    }
    const sizes = readies[0]!.sizes;
    if (readies.some((r) => r.sizes.join(',') !== sizes.join(','))) {
      await Promise.all(links.map((link) => link.worker.terminate()));
      throw new RuntimeError('replica-mismatch', 'DataParallelTrainer.create: replicas must have identical variables');
    }
    return new DataParallelTrainer(links, undefined, combine, sizes.reduce((a, b) => a + b, 0), readies[0]!.backend);
  }

  /**
   * One optimiser step over `shards` (exactly one per worker). Returns the example-weighted loss.
   * @throws RuntimeError when a worker fails or a loss is not finite (no update is applied then).
   */
  async step(shards: readonly Shard[]): Promise<StepResult> {
    if (shards.length !== this.workerCount) {
      throw new RuntimeError('bad-shards', `step: needs one shard per worker (${this.workerCount}), got ${shards.length}`);
    }
    const counts = shards.map(shardSize);
    const total = counts.reduce((a, b) => a + b, 0);
    const weights = counts.map((n) => n / total);
    if (this.local !== undefined) {
      const { loss, grads, stats } = await this.local.gradients(shards[0]!);
      const combined = this.combine([stats], [1]);
      await this.local.apply(grads, combined);
      return { loss, combined };
    }
    const replies = (await Promise.all(
      this.links.map((link, i) => link.request((id) => ({ kind: 'grads', id, shard: shards[i]! }))),
    )) as Extract<FromWorker, { kind: 'grads' }>[];
    const averaged = new Float32Array(this.parameterCount);
    let loss = 0;
    for (let w = 0; w < replies.length; w++) {
      const reply = replies[w]!;
      const weight = weights[w]!;
      const grads = reply.grads;
      for (let i = 0; i < averaged.length; i++) averaged[i] = averaged[i]! + weight * grads[i]!;
      loss += weight * reply.loss;
    }
    const combined = this.combine(replies.map((r) => r.stats), weights);
    await Promise.all(
      this.links.map((link) => link.request((id) => ({ kind: 'apply', id, grads: averaged, combined }))),
    );
    return { loss, combined };
  }

  /** State of replica 0 (all replicas are identical). */
  async getState(): Promise<ReplicaState> {
    if (this.local !== undefined) return this.local.getState();
    const reply = await this.links[0]!.request((id) => ({ kind: 'get-state', id }));
    return (reply as Extract<FromWorker, { kind: 'result' }>).value as ReplicaState;
  }

  /** Restore every replica to `state` (from `getState`, e.g. on resume). */
  async setState(state: ReplicaState): Promise<void> {
    if (this.local !== undefined) return this.local.setState(state);
    await Promise.all(this.links.map((link) => link.request((id) => ({ kind: 'set-state', id, state }))));
  }

  /** Run `replica.call(method, args)` on replica 0 (evaluation, export). */
  async call(method: string, args: unknown = null): Promise<unknown> {
    if (this.local !== undefined) return this.local.call(method, args);
    const reply = await this.links[0]!.request((id) => ({ kind: 'call', id, method, args }));
    return (reply as Extract<FromWorker, { kind: 'result' }>).value;
  }

  async dispose(): Promise<void> {
    if (this.local !== undefined) {
      this.local.dispose();
      return;
    }
    await Promise.all(
      this.links.map(async (link) => {
        await link.request((id) => ({ kind: 'close', id })).catch(() => undefined);
        await link.worker.terminate();
      }),
    );
  }
}
