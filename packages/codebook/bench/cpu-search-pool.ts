import { Worker } from 'node:worker_threads';
import type { CodebookSpec } from '@gq/codebook';
import type { WorkerEngine, WorkerRequest } from './cpu-search-worker.js';

/**
 * Node-only helper: splits a search's query rows over worker threads that share the inputs and the
 * output through SharedArrayBuffers. Each worker regenerates the codebook from its spec (bit-
 * identical by construction) and runs gqSearchCpu on its row range (`engine: 'ts'`: the default wasm
 * SIMD kernel, one kernel instance per worker; `'ts-js'`: the float64 JS scan) or gqSearch on its
 * own single-threaded tfjs wasm instance (`engine: 'wasm'`).
 */
export class CpuSearchPool {
  private constructor(private readonly workers: Worker[]) {}

  /** `workerFile` overrides the worker entry (e.g. a bundled copy when the bench runs without tsx). */
  static async create(threads: number, spec: CodebookSpec, engine: WorkerEngine, workerFile?: string): Promise<CpuSearchPool> {
    const entry = workerFile ?? new URL('./cpu-search-worker.mjs', import.meta.url);
    const workers = Array.from({ length: threads }, () => new Worker(entry, { execArgv: ['--conditions=@gq/source'] }));
    const pool = new CpuSearchPool(workers);
    await Promise.all(workers.map((worker) => pool.call(worker, { kind: 'init', spec, engine })));
    return pool;
  }

  private call(worker: Worker, request: WorkerRequest): Promise<void> {
    return new Promise((resolve, reject) => {
      worker.once('message', (reply: { ok: boolean; message?: string }) => {
        if (reply.ok) resolve();
        else reject(new Error(reply.message));
      });
      worker.once('error', reject);
      worker.postMessage(request);
    });
  }

  /** Indices [N] for token rows mu, logVar [N·m] (copied once into shared memory). */
  async search(mu: Float32Array, logVar: Float32Array, dim: number, beta: number): Promise<Int32Array> {
    const rows = mu.length / dim;
    const sharedMu = new SharedArrayBuffer(mu.byteLength);
    const sharedLogVar = new SharedArrayBuffer(logVar.byteLength);
    new Float32Array(sharedMu).set(mu);
    new Float32Array(sharedLogVar).set(logVar);
    const out = new SharedArrayBuffer(rows * 4);
    const per = Math.ceil(rows / this.workers.length);
    await Promise.all(
      this.workers.map((worker, w) =>
        this.call(worker, {
          kind: 'search',
          mu: sharedMu,
          logVar: sharedLogVar,
          out,
          rowStart: Math.min(rows, w * per),
          rowEnd: Math.min(rows, (w + 1) * per),
          beta,
        }),
      ),
    );
    return new Int32Array(out);
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((worker) => worker.terminate()));
  }
}
