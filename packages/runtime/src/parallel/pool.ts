import { Worker, type Transferable } from 'node:worker_threads';
import { RuntimeError } from '../errors.js';
import { moduleUrl, siblingModule, workerEntry } from './source.js';
import type { Transferred } from './transfer.js';

/** One request a worker answers: the type of its argument and of its result (both structured-cloneable). */
export interface CallSpec {
  readonly args: unknown;
  readonly result: unknown;
}

/**
 * The requests a worker answers, by name: `{ encode: { args: { images: Float32Array }; result:
 * { mu: Float32Array } } }`. The default, `AnyCalls`, accepts any name with untyped values.
 */
export type Calls<C> = { readonly [K in keyof C]: CallSpec };

/** Untyped requests: any name, `unknown` argument and result. */
export type AnyCalls = Record<string, { readonly args: unknown; readonly result: unknown }>;

/** A request name of `C`. */
export type CallName<C> = Extract<keyof C, string>;
/** The argument type of request `K` of `C`. */
export type CallArgs<C, K extends keyof C> = C[K] extends { readonly args: infer A } ? A : never;
/** The result type of request `K` of `C`. */
export type CallResult<C, K extends keyof C> = C[K] extends { readonly result: infer R } ? R : never;

/** What a handler may return: the result, or the result with buffers to transfer (`withTransfer`). */
export type HandlerReturn<R> = R | Transferred<R> | Promise<R | Transferred<R>>;

/** One handler per request name of `C`, run in the worker thread. */
export type WorkerHandlers<C> = { readonly [K in keyof C]: (args: CallArgs<C, K>) => HandlerReturn<CallResult<C, K>> };

/** What `createWorker` is given in every worker thread of a pool. */
export interface WorkerContext<Options = unknown> {
  /** 0-based index of this worker in the pool. */
  readonly workerIndex: number;
  /** Number of workers in the pool. */
  readonly workerCount: number;
  /** The pool's `options.options` (structured-cloned). */
  readonly options: Options;
}

/** What a worker module's `createWorker` returns: its handlers and an optional clean-up. */
export interface WorkerService<C> {
  /** One handler per request name. */
  readonly handlers: WorkerHandlers<C>;
  /** Runs once when the pool closes (free tensors, close files). */
  dispose?(): Promise<void> | void;
}

/** The function a worker module exports as `createWorker`; the pool calls it once per thread. */
export type CreateWorker<C extends Calls<C> = AnyCalls, Options = unknown> = (
  context: WorkerContext<Options>,
) => Promise<WorkerService<C>> | WorkerService<C>;

/** Options of `WorkerPool.create`. */
export interface WorkerPoolOptions<Options = unknown> {
  /** The worker module (path, file URL or URL string) exporting `createWorker(context)`; TypeScript runs through tsx. */
  readonly module: string | URL;
  /** Number of worker threads (default 2). */
  readonly workers?: number;
  /** Passed to every worker's `createWorker` as `context.options`; must be structured-cloneable. Default undefined. */
  readonly options?: Options;
  /** Names the pool in error messages (default 'worker pool'). */
  readonly name?: string;
}

/** The arguments after the method name: the request's argument (optional when it may be undefined) and a transfer list. */
export type RequestInput<A> = undefined extends A
  ? [args?: A, transfer?: readonly Transferable[]]
  : [args: A, transfer?: readonly Transferable[]];

/** A thrown value as it crosses from a worker: enough to rebuild a useful error. */
export interface SerializedError {
  readonly name: string;
  readonly message: string;
  readonly stack?: string;
  /** The `code` of a GQ error (see `isGqError` of @gq/core). */
  readonly code?: string;
}

/** Messages from the pool to a worker. */
export type ToPoolWorker =
  | { readonly kind: 'call'; readonly id: number; readonly method: string; readonly args: unknown }
  | { readonly kind: 'close'; readonly id: number };

/** Messages from a worker to the pool. `id` -1 is a failure while starting. */
export type FromPoolWorker =
  | { readonly kind: 'ready' }
  | { readonly kind: 'result'; readonly id: number; readonly value: unknown }
  | { readonly kind: 'error'; readonly id: number; readonly error: SerializedError };

/** What every worker thread receives as `workerData`. */
export interface PoolWorkerData {
  readonly module: string;
  readonly workerIndex: number;
  readonly workerCount: number;
  readonly options: unknown;
}

interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
}

function remoteError(error: SerializedError): Error {
  const rebuilt = new Error(error.message);
  rebuilt.name = error.name;
  if (error.stack !== undefined) rebuilt.stack = error.stack;
  return rebuilt;
}

/** One worker thread: request ids, pending promises, and the failure that ended it. */
class Link {
  private nextId = 0;
  private readonly pending = new Map<number, Pending>();
  private failure: Error | undefined;
  readonly ready: Promise<void>;

  constructor(
    readonly worker: Worker,
    /** e.g. 'data-parallel worker'. */
    private readonly label: string,
    private readonly index: number,
  ) {
    let markReady: () => void = () => undefined;
    let failReady: (error: Error) => void = () => undefined;
    this.ready = new Promise((resolve, reject) => {
      markReady = resolve;
      failReady = reject;
    });
    // A failure before anyone awaits `ready` must not surface as an unhandled rejection.
    this.ready.catch(() => undefined);
    worker.on('message', (message: FromPoolWorker) => {
      if (message.kind === 'ready') {
        markReady();
        return;
      }
      if (message.kind === 'error' && message.id === -1) {
        const error = new RuntimeError(message.error.code ?? 'worker-start', `${this.label} failed to start (worker ${this.index}): ${message.error.message}`, {
          cause: remoteError(message.error),
        });
        this.fail(error);
        failReady(error);
        return;
      }
      const waiting = this.pending.get(message.id);
      if (waiting === undefined) return;
      this.pending.delete(message.id);
      if (message.kind === 'error') {
        waiting.reject(
          new RuntimeError(message.error.code ?? 'worker-error', `${this.label} ${this.index}: ${message.error.message}`, { cause: remoteError(message.error) }),
        );
      } else {
        waiting.resolve(message.value);
      }
    });
    const end = (error: Error): void => {
      this.fail(error);
      failReady(error);
    };
    worker.on('error', (error) => end(new RuntimeError('worker-crashed', `${this.label} ${this.index} crashed: ${error.message}`, { cause: error })));
    worker.on('exit', (code) => {
      end(new RuntimeError(code === 0 ? 'worker-closed' : 'worker-exited', `${this.label} ${this.index} exited with code ${code}`));
    });
  }

  private fail(error: Error): void {
    this.failure ??= error;
    for (const waiting of this.pending.values()) waiting.reject(error);
    this.pending.clear();
  }

  send(message: (id: number) => ToPoolWorker, transfer: readonly Transferable[]): Promise<unknown> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage(message(id), transfer);
    });
  }
}

/**
 * A fixed set of worker threads, each running one module's handlers, with typed requests.
 *
 * ```ts
 * interface SumCalls { sum: { args: Float64Array; result: number } }
 * const pool = await WorkerPool.create<SumCalls>({ module: new URL('./sum-worker.js', import.meta.url) });
 * const totals = await Promise.all(parts.map((part, i) => pool.request(i, 'sum', part)));
 * await pool.close();
 * ```
 *
 * The worker module exports `createWorker: CreateWorker<SumCalls> = () => ({ handlers: { sum:
 * (values) => values.reduce((a, b) => a + b, 0) } })`. A handler's throw rejects that request with a
 * `RuntimeError` carrying the worker's message (and its `code` when it threw a GQ error); a worker
 * that dies rejects everything pending on it. Node only.
 */
export class WorkerPool<C extends Calls<C> = AnyCalls> {
  private closed = false;

  private constructor(private readonly links: readonly Link[]) {}

  /** Number of worker threads. */
  get size(): number {
    return this.links.length;
  }

  /**
   * Start `options.workers` threads on `options.module` and wait until every `createWorker` has
   * returned.
   * @throws RuntimeError `bad-workers` for a worker count that is not a positive integer; the
   *   worker's error (code `worker-start` unless it threw a GQ error) when one fails to start, after
   *   stopping all of them.
   */
  static async create<C extends Calls<C> = AnyCalls, Options = unknown>(options: WorkerPoolOptions<Options>): Promise<WorkerPool<C>> {
    const workers = options.workers ?? 2;
    const name = options.name ?? 'worker pool';
    if (!Number.isInteger(workers) || workers < 1) {
      throw new RuntimeError('bad-workers', `WorkerPool.create: workers must be a positive integer, got ${workers}`);
    }
    const module = moduleUrl(options.module);
    const entry = workerEntry(siblingModule('pool-worker', import.meta.url), module);
    const links = Array.from({ length: workers }, (_, workerIndex) => {
      const workerData: PoolWorkerData = { module, workerIndex, workerCount: workers, options: options.options };
      const worker = new Worker(entry.source, { eval: entry.eval, execArgv: entry.execArgv, workerData });
      return new Link(worker, `${name} worker`, workerIndex);
    });
    try {
      await Promise.all(links.map((link) => link.ready));
    } catch (error) {
      await Promise.all(links.map((link) => link.worker.terminate()));
      throw error;
    }
    return new WorkerPool<C>(links);
  }

  /**
   * Ask worker `worker` to run handler `method` on `args`; `transfer` lists buffers of `args` to move
   * instead of copy.
   * @throws RuntimeError `bad-worker` for an index outside the pool, `pool-closed` after `close`.
   */
  request<K extends CallName<C>>(worker: number, method: K, ...input: RequestInput<CallArgs<C, K>>): Promise<CallResult<C, K>> {
    const link = this.links[worker];
    if (link === undefined || !Number.isInteger(worker)) {
      return Promise.reject(new RuntimeError('bad-worker', `WorkerPool.request: worker must be an integer in [0, ${this.links.length}), got ${worker}`));
    }
    if (this.closed) return Promise.reject(new RuntimeError('pool-closed', `WorkerPool.request: the pool is closed (request '${method}')`));
    const [args, transfer = []] = input;
    return link.send((id) => ({ kind: 'call', id, method, args }), transfer) as Promise<CallResult<C, K>>;
  }

  /** Run `method` on every worker with the same `args` (copied to each); results in worker order. */
  broadcast<K extends CallName<C>>(method: K, ...input: RequestInput<CallArgs<C, K>>): Promise<CallResult<C, K>[]> {
    const [args] = input;
    return Promise.all(this.links.map((_, i) => this.request(i, method, ...([args] as RequestInput<CallArgs<C, K>>))));
  }

  /** Run every worker's `dispose`, then stop the threads. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(
      this.links.map(async (link) => {
        await link.send((id) => ({ kind: 'close', id }), []).catch(() => undefined);
        await link.worker.terminate();
      }),
    );
  }
}
