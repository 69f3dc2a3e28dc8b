import type { Codebook } from './codebook.js';
import { CodebookError } from './errors.js';
import { assertFiniteRows, queryWeights, resolveSelection, type SelectionOptions } from './query.js';
import { SIMD_BATCH_ROWS, searchSimd, simdKernelFor, type SimdKernel } from './search-simd.js';
import { wasmSimdSupported } from './wasm-kernel.js';

/** Queries scored together against each codeword row: the row's features are loaded once per block. */
const QUERY_BLOCK = 8;
/** Codewords per tile: 256 rows of ≤ 64 float64 features (≤ 128 KiB) stay cache-resident across query blocks. */
const CODEWORD_TILE = 256;

/** Options of `gqSearchCpu`. */
export interface CpuSearchOptions extends SelectionOptions {
  /** First token row to search (default 0). With `rowEnd`, lets callers split work across threads. */
  readonly rowStart?: number;
  /** One past the last token row to search (default N). */
  readonly rowEnd?: number;
  /** Output [N] int32; only entries [rowStart, rowEnd) are written. Allocated when absent. */
  readonly out?: Int32Array;
  /**
   * `'auto'` (default): the O(log K) sorted search when m = 1, else `'exhaustive'`.
   * `'exhaustive'`: scan all K codewords with the WebAssembly SIMD kernel where the engine
   * supports wasm SIMD, else with the float64 JS scan (same indices either way).
   * `'exhaustive-simd'`: the wasm SIMD kernel; throws `no-simd` where unsupported.
   * `'exhaustive-js'`: the float64 JS scan. `'sorted'`: m = 1 only.
   */
  readonly algorithm?: CpuSearchAlgorithm;
  /** When given, filled with what the search did (which scan ran, float64 work after the SIMD pass). */
  readonly stats?: CpuSearchStats;
}

/** What one `gqSearchCpu` call did; pass an object as `options.stats` to receive it. */
export interface CpuSearchStats {
  /** `'sorted'` (m = 1, O(log K)), `'wasm-simd'` (float32 kernel + float64 re-rank) or `'js-float64'`. */
  kernel?: 'sorted' | 'wasm-simd' | 'js-float64';
  /** Codewords re-scored in float64 after the SIMD pass (about ln K per row for continuous inputs). */
  rescored?: number;
  /** Rows whose candidate list overflowed and that the kernel re-ran with their final threshold. */
  rerunRows?: number;
  /** Rows searched by the full float64 scan after the SIMD pass (more near-ties than the candidate list holds, or weights beyond float32 range). */
  float64Rows?: number;
}

/** Which scan `gqSearchCpu` runs; every choice returns the float64 scan's indices (see `CpuSearchOptions.algorithm`). */
export type CpuSearchAlgorithm = 'auto' | 'exhaustive' | 'exhaustive-simd' | 'exhaustive-js' | 'sorted';

const ALGORITHMS: readonly CpuSearchAlgorithm[] = ['auto', 'exhaustive', 'exhaustive-simd', 'exhaustive-js', 'sorted'];

const featureCache = new WeakMap<Codebook, Float64Array>();

/**
 * Codeword features φ_j = [c_j², c_j] as float64, row-major [K, 2m]. c² of a float32 is exact in
 * float64 (48 significant bits), so the scan is an exact-input float64 inner product.
 */
function codewordFeatures(codebook: Codebook): Float64Array {
  let features = featureCache.get(codebook);
  if (features === undefined) {
    const { values, size, dim } = codebook;
    features = new Float64Array(size * 2 * dim);
    for (let j = 0; j < size; j++) {
      for (let d = 0; d < dim; d++) {
        const c = values[j * dim + d]!;
        features[j * 2 * dim + d] = c * c;
        features[j * 2 * dim + dim + d] = c;
      }
    }
    featureCache.set(codebook, features);
  }
  return features;
}

interface SortedScalarCodebook {
  readonly sorted: Float64Array;
  /** Smallest original index among the sorted positions holding the same value. */
  readonly runMin: Int32Array;
}

const sortedCache = new WeakMap<Codebook, SortedScalarCodebook>();

function sortedScalar(codebook: Codebook): SortedScalarCodebook {
  let entry = sortedCache.get(codebook);
  if (entry === undefined) {
    const { values, size } = codebook;
    const order = new Int32Array(size);
    for (let i = 0; i < size; i++) order[i] = i;
    order.sort((x, y) => values[x]! - values[y]! || x - y);
    const sorted = new Float64Array(size);
    const runMin = new Int32Array(size);
    for (let p = 0; p < size; p++) {
      sorted[p] = values[order[p]!]!;
      // Ties in value are sorted by index, so the run's first position holds its smallest index.
      runMin[p] = p > 0 && sorted[p] === sorted[p - 1] ? runMin[p - 1]! : order[p]!;
    }
    entry = { sorted, runMin };
    sortedCache.set(codebook, entry);
  }
  return entry;
}

/**
 * Exhaustive scan: codeword tiles × blocks of 8 queries; each codeword row's features are loaded
 * once per block and the float64 inner products ⟨a, φ_j⟩ update a running first-maximum per query.
 * Never holds N×K scores.
 */
function scanExhaustive(
  weights: Float64Array,
  count: number,
  features: Float64Array,
  size: number,
  width: number,
  out: Int32Array,
  outOffset: number,
): void {
  const blocks = Math.ceil(count / QUERY_BLOCK);
  // Weights interleaved by feature within each block (rows past the input repeat the last query;
  // their results are discarded), so the inner loop reads them contiguously.
  const blockWeights = new Float64Array(blocks * width * QUERY_BLOCK);
  for (let b = 0; b < blocks; b++) {
    for (let r = 0; r < QUERY_BLOCK; r++) {
      const q = Math.min(b * QUERY_BLOCK + r, count - 1);
      for (let k = 0; k < width; k++) blockWeights[(b * width + k) * QUERY_BLOCK + r] = weights[q * width + k]!;
    }
  }
  const best = new Float64Array(blocks * QUERY_BLOCK).fill(-Infinity);
  const arg = new Int32Array(blocks * QUERY_BLOCK);
  for (let tile = 0; tile < size; tile += CODEWORD_TILE) {
    const tileEnd = Math.min(tile + CODEWORD_TILE, size);
    for (let b = 0; b < blocks; b++) {
      const o = b * QUERY_BLOCK;
      const wBase = b * width * QUERY_BLOCK;
      let best0 = best[o]!;
      let best1 = best[o + 1]!;
      let best2 = best[o + 2]!;
      let best3 = best[o + 3]!;
      let best4 = best[o + 4]!;
      let best5 = best[o + 5]!;
      let best6 = best[o + 6]!;
      let best7 = best[o + 7]!;
      let arg0 = arg[o]!;
      let arg1 = arg[o + 1]!;
      let arg2 = arg[o + 2]!;
      let arg3 = arg[o + 3]!;
      let arg4 = arg[o + 4]!;
      let arg5 = arg[o + 5]!;
      let arg6 = arg[o + 6]!;
      let arg7 = arg[o + 7]!;
      for (let j = tile, base = tile * width; j < tileEnd; j++, base += width) {
        let s0 = 0;
        let s1 = 0;
        let s2 = 0;
        let s3 = 0;
        let s4 = 0;
        let s5 = 0;
        let s6 = 0;
        let s7 = 0;
        for (let k = 0, w = wBase; k < width; k++, w += QUERY_BLOCK) {
          const f = features[base + k]!;
          s0 += blockWeights[w]! * f;
          s1 += blockWeights[w + 1]! * f;
          s2 += blockWeights[w + 2]! * f;
          s3 += blockWeights[w + 3]! * f;
          s4 += blockWeights[w + 4]! * f;
          s5 += blockWeights[w + 5]! * f;
          s6 += blockWeights[w + 6]! * f;
          s7 += blockWeights[w + 7]! * f;
        }
        // Strict comparisons over ascending j keep the first maximum: the lowest index wins ties.
        if (s0 > best0) {
          best0 = s0;
          arg0 = j;
        }
        if (s1 > best1) {
          best1 = s1;
          arg1 = j;
        }
        if (s2 > best2) {
          best2 = s2;
          arg2 = j;
        }
        if (s3 > best3) {
          best3 = s3;
          arg3 = j;
        }
        if (s4 > best4) {
          best4 = s4;
          arg4 = j;
        }
        if (s5 > best5) {
          best5 = s5;
          arg5 = j;
        }
        if (s6 > best6) {
          best6 = s6;
          arg6 = j;
        }
        if (s7 > best7) {
          best7 = s7;
          arg7 = j;
        }
      }
      best[o] = best0;
      best[o + 1] = best1;
      best[o + 2] = best2;
      best[o + 3] = best3;
      best[o + 4] = best4;
      best[o + 5] = best5;
      best[o + 6] = best6;
      best[o + 7] = best7;
      arg[o] = arg0;
      arg[o + 1] = arg1;
      arg[o + 2] = arg2;
      arg[o + 3] = arg3;
      arg[o + 4] = arg4;
      arg[o + 5] = arg5;
      arg[o + 6] = arg6;
      arg[o + 7] = arg7;
    }
  }
  for (let q = 0; q < count; q++) out[outOffset + q] = arg[q]!;
}

/** First p in [0, K] with sorted[p] ≥ t. */
function lowerBound(sorted: Float64Array, t: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * m = 1 in O(log K) (docs/algorithms.md §3.4): S(c) = A·c² + B·c. Concave (A < 0): the maximiser is one
 * of the two sorted neighbours of the vertex. Convex or linear: one of the two ends.
 */
function scanSorted(weights: Float64Array, count: number, table: SortedScalarCodebook, out: Int32Array, outOffset: number): void {
  const { sorted, runMin } = table;
  const last = sorted.length - 1;
  for (let q = 0; q < count; q++) {
    const a = weights[2 * q]!;
    const b = weights[2 * q + 1]!;
    let p0: number;
    let p1: number;
    if (a < 0) {
      const p = lowerBound(sorted, -b / (2 * a));
      p0 = p > 0 ? p - 1 : p;
      p1 = p <= last ? p : last;
    } else if (a > 0 || b !== 0) {
      p0 = 0;
      p1 = last;
    } else {
      out[outOffset + q] = 0;
      continue;
    }
    // Same float64 expression as the exhaustive scan (a·c² + b·c with c² exact), so both agree.
    const c0 = sorted[p0]!;
    const c1 = sorted[p1]!;
    const s0 = a * (c0 * c0) + b * c0;
    const s1 = a * (c1 * c1) + b * c1;
    let pick: number;
    if (s0 > s1) pick = runMin[p0]!;
    else if (s1 > s0) pick = runMin[p1]!;
    else pick = Math.min(runMin[p0]!, runMin[p1]!);
    out[outOffset + q] = pick;
  }
}

function checkRange(fn: string, rows: number, rowStart: number, rowEnd: number): void {
  if (!Number.isInteger(rowStart) || !Number.isInteger(rowEnd) || rowStart < 0 || rowEnd > rows || rowStart > rowEnd) {
    throw new CodebookError(
      'bad-range',
      `${fn}: rows must satisfy 0 ≤ rowStart ≤ rowEnd ≤ N=${rows} (integers), got rowStart=${rowStart}, rowEnd=${rowEnd}`,
    );
  }
}

/** Rows processed per weight batch: bounds the float64 scratch to a few hundred KiB. */
const WEIGHT_BATCH_ROWS = SIMD_BATCH_ROWS;

/**
 * Exact GQ search in plain TypeScript (no tfjs): for token rows μ, ℓ of shape [N, m] (row-major),
 * the index of the codeword maximising Σ_d ln N(c_d; μ_d, σ_d²) − β ln N(c_d; 0, 1), σ² = e^ℓ with
 * ℓ clamped to [−30, 20]. The lowest index wins exact ties.
 *
 * The index is the first maximum of the float64 score Σ_k a_k·φ_jk on every path: the wasm SIMD
 * kernel scores in float32 but re-ranks, in float64, every codeword within a proven float32 error
 * bound of its best, so it returns what the float64 JS scan returns.
 *
 * @param mu [N·m] posterior means (float32 or float64)
 * @param logVar [N·m] raw log-variances, or null for σ = 1
 * @returns Int32Array [N] (the `out` option when given), written at rows [rowStart, rowEnd)
 * @throws CodebookError `empty`, `shape-mismatch`, `non-finite`, `bad-range`, `bad-beta`, `bad-rule`,
 *   `bad-algorithm`, `no-simd` / `simd-unsuitable` (`algorithm: 'exhaustive-simd'` where wasm SIMD is
 *   unavailable, or for a table the kernel cannot hold)
 */
export function gqSearchCpu(
  mu: Float32Array | Float64Array,
  logVar: Float32Array | Float64Array | null,
  codebook: Codebook,
  options: CpuSearchOptions = {},
): Int32Array {
  const fn = 'gqSearchCpu';
  const selection = resolveSelection(fn, options);
  const { dim, size } = codebook;
  if (mu.length === 0) throw new CodebookError('empty', `${fn}: mu must hold at least one token, got length 0`);
  if (mu.length % dim !== 0) {
    throw new CodebookError('shape-mismatch', `${fn}: mu length must be a multiple of dim=${dim}, got ${mu.length}`);
  }
  if (logVar !== null && logVar.length !== mu.length) {
    throw new CodebookError('shape-mismatch', `${fn}: logVar must have the length of mu (${mu.length}), got ${logVar.length}`);
  }
  const rows = mu.length / dim;
  const rowStart = options.rowStart ?? 0;
  const rowEnd = options.rowEnd ?? rows;
  checkRange(fn, rows, rowStart, rowEnd);
  const out = options.out ?? new Int32Array(rows);
  if (out.length !== rows) {
    throw new CodebookError('shape-mismatch', `${fn}: out must have length N=${rows}, got ${out.length}`);
  }
  assertFiniteRows(fn, 'mu', mu, rowStart * dim, rowEnd * dim, dim);
  if (logVar !== null && selection.rule === 'gq') assertFiniteRows(fn, 'logVar', logVar, rowStart * dim, rowEnd * dim, dim);
  const algorithm = options.algorithm ?? 'auto';
  if (!ALGORITHMS.includes(algorithm)) {
    throw new CodebookError(
      'bad-algorithm',
      `${fn}: algorithm must be one of ${ALGORITHMS.map((name) => `'${name}'`).join(', ')}, got ${JSON.stringify(algorithm)}`,
    );
  }
  if (algorithm === 'sorted' && dim !== 1) {
    throw new CodebookError('bad-algorithm', `${fn}: algorithm 'sorted' needs dim m = 1, got m=${dim}`);
  }
  const sorted = algorithm === 'sorted' || (algorithm === 'auto' && dim === 1);
  let kernel: SimdKernel | null = null;
  if (!sorted && algorithm !== 'exhaustive-js') {
    const simd = wasmSimdSupported();
    if (algorithm === 'exhaustive-simd' && !simd) {
      throw new CodebookError('no-simd', `${fn}: algorithm 'exhaustive-simd' needs WebAssembly SIMD, which this engine does not validate`);
    }
    if (simd) {
      // A string says why the kernel cannot serve this codebook; the float64 scan then runs.
      const built = simdKernelFor(codebook);
      if (typeof built !== 'string') kernel = built;
      else if (algorithm === 'exhaustive-simd') {
        throw new CodebookError('simd-unsuitable', `${fn}: algorithm 'exhaustive-simd' cannot use this codebook (K=${size}, m=${dim}): ${built}`);
      }
    }
  }
  const width = 2 * dim;
  const features = sorted || kernel !== null ? null : codewordFeatures(codebook);
  const table = sorted ? sortedScalar(codebook) : null;
  const work = { rescored: 0, float64Rows: 0, rerunRows: 0 };
  const batch = Math.min(WEIGHT_BATCH_ROWS, Math.max(rowEnd - rowStart, 1));
  const weights = new Float64Array(batch * width);
  for (let start = rowStart; start < rowEnd; start += batch) {
    const count = Math.min(batch, rowEnd - start);
    for (let q = 0; q < count; q++) queryWeights(mu, logVar, (start + q) * dim, dim, selection, weights, q * width, 1);
    if (table !== null) scanSorted(weights, count, table, out, start);
    else if (kernel !== null) searchSimd(kernel, codebook, weights, count, out, start, work);
    else scanExhaustive(weights, count, features!, size, width, out, start);
  }
  if (options.stats !== undefined) {
    const stats = options.stats;
    stats.kernel = table !== null ? 'sorted' : kernel !== null ? 'wasm-simd' : 'js-float64';
    stats.rescored = work.rescored;
    stats.float64Rows = work.float64Rows;
    stats.rerunRows = work.rerunRows;
  }
  return out;
}
