import type { CodebookSpec, CpuSearchAlgorithm, SelectionOptions } from '@gq/codebook';
import type { BackendName } from '../backend.js';
import { RuntimeError } from '../errors.js';
import { WorkerPool } from './pool.js';
import type { SearchWorkerCalls, SearchWorkerOptions } from './search-worker.js';
import { siblingModule } from './source.js';

/** How each thread of a `ParallelSearch` searches its rows. */
export type SearchEngine = 'cpu' | 'tfjs';

/** Options of `ParallelSearch.create`. */
export interface ParallelSearchOptions {
  /** Worker threads (default 2). */
  readonly threads?: number;
  /**
   * `'cpu'` (default): @gq/codebook's `gqSearchCpu` on the thread's rows, no tfjs. `'tfjs'`: `gqSearch`
   * on the thread's own tfjs backend (one wasm instance per thread in Node).
   */
  readonly engine?: SearchEngine;
  /** `'cpu'` only: `gqSearchCpu`'s algorithm (default `'auto'`). */
  readonly algorithm?: CpuSearchAlgorithm;
  /** `'tfjs'` only: the backend every thread starts (default `'wasm'`). */
  readonly backend?: BackendName;
}

/**
 * Exact GQ search split over worker threads (Node only): the query rows are copied once into shared
 * memory, each thread searches a contiguous range of them against its own copy of the codebook
 * (regenerated from the spec, bit-identical by construction) and writes its indices into a shared
 * output. The indices equal a single-thread `gqSearchCpu` / `gqSearch` of the same rows.
 *
 * ```ts
 * const search = await ParallelSearch.create({ size: 4096, dim: 4, seed: 42 }, { threads: 2 });
 * const indices = await search.search(mu, logVar, { beta: 1 }); // Int32Array [N]
 * await search.close();
 * ```
 */
export class ParallelSearch {
  private constructor(
    private readonly pool: WorkerPool<SearchWorkerCalls>,
    /** Codeword dimension m of the codebook. */
    readonly dim: number,
  ) {}

  /** Number of worker threads. */
  get threads(): number {
    return this.pool.size;
  }

  /**
   * Start the threads and build the codebook (and the engine's per-codebook tables) in each, so that
   * the first `search` is not slower than the rest.
   * @throws the codebook's error (e.g. CodebookError `bad-seed`) for an invalid spec; RuntimeError
   *   `bad-workers` for a thread count that is not a positive integer.
   */
  static async create(spec: CodebookSpec, options: ParallelSearchOptions = {}): Promise<ParallelSearch> {
    const { threads = 2, engine = 'cpu', algorithm = 'auto', backend = 'wasm' } = options;
    if (engine !== 'cpu' && engine !== 'tfjs') {
      throw new RuntimeError('bad-engine', `ParallelSearch.create: engine must be 'cpu' or 'tfjs', got ${JSON.stringify(engine)}`);
    }
    const pool = await WorkerPool.create<SearchWorkerCalls, SearchWorkerOptions>({
      module: siblingModule('search-worker', import.meta.url),
      workers: threads,
      options: { spec: { ...spec }, engine, algorithm, backend },
      name: 'ParallelSearch',
    });
    return new ParallelSearch(pool, spec.dim);
  }

  /**
   * Indices [N] of the selected codewords for token rows `mu` and `logVar` [N·m] (row-major; `logVar`
   * null for σ = 1), with @gq/codebook's selection options (`beta`, default 1; `rule`).
   * @throws RuntimeError `shape-mismatch` when the lengths are not N·m; a thread's error otherwise.
   */
  async search(mu: Float32Array, logVar: Float32Array | null, options: SelectionOptions = {}): Promise<Int32Array> {
    if (mu.length === 0 || mu.length % this.dim !== 0) {
      throw new RuntimeError('shape-mismatch', `ParallelSearch.search: mu must hold N·dim values with N ≥ 1 and dim=${this.dim}, got length ${mu.length}`);
    }
    if (logVar !== null && logVar.length !== mu.length) {
      throw new RuntimeError('shape-mismatch', `ParallelSearch.search: logVar must have mu's length ${mu.length}, got ${logVar.length}`);
    }
    const rows = mu.length / this.dim;
    const share = (values: Float32Array): SharedArrayBuffer => {
      const buffer = new SharedArrayBuffer(values.byteLength);
      new Float32Array(buffer).set(values);
      return buffer;
    };
    const sharedMu = share(mu);
    const sharedLogVar = logVar === null ? null : share(logVar);
    const out = new SharedArrayBuffer(rows * Int32Array.BYTES_PER_ELEMENT);
    const per = Math.ceil(rows / this.pool.size);
    const selection: SelectionOptions = { ...options };
    await Promise.all(
      Array.from({ length: this.pool.size }, (_, w) =>
        this.pool.request(w, 'search', {
          mu: sharedMu,
          logVar: sharedLogVar,
          out,
          rowStart: Math.min(rows, w * per),
          rowEnd: Math.min(rows, (w + 1) * per),
          selection,
        }),
      ),
    );
    return new Int32Array(out);
  }

  /** Stop the threads. */
  close(): Promise<void> {
    return this.pool.close();
  }
}
