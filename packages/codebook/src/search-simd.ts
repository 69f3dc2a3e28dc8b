import type { Codebook } from './codebook.js';
import { kernelModuleBytes, paddedWidth, PANEL, QUERIES, STATE_BYTES, type ScanFunction } from './wasm-kernel.js';

/**
 * Exhaustive GQ search on the WebAssembly SIMD kernel, with float64 re-ranking so the result is the
 * same index the float64 JS scan returns.
 *
 * Why the re-ranking is exact. For query weights a (float64) and codeword features φ_j, the
 * kernel's float32 score ŝ_j = fl32(Σ_k fl32(a_k)·fl32(φ_jk)) (recursive summation over the n
 * padded features) satisfies |ŝ_j − S_j| ≤ E with
 *   E = γ_{n+2}·Σ_k |a_k φ_jk| + 2^-149·(n + Σ_k max_j|φ_jk| + Σ_k |a_k|),
 * γ_n = n·u/(1 − n·u), u = 2^-24, the second term covering gradual underflow of products and of
 * the float32 casts. Σ_k |a_k φ_jk| ≤ U = Σ_k |a_k|·max_j|φ_jk|, a per-query bound. The float64
 * scan's winner j64 (and any index tying with it in float64) has ŝ ≥ M − 2E − O(2^-52·n·U), where
 * M is the final float32 maximum, and the kernel records every index with ŝ ≥ fl32(best − tol)
 * for the running best ≤ M. With tol = 4·(n+4)·u·U + 4·2^-149·(…) ≥ 2E + u·(U + tol) + that
 * float64 term, j64 is always recorded; re-scoring the recorded indices with the float64 scan's
 * own expression (same operations in the same order) and taking the first maximum returns j64.
 * A query whose list overflows CAPACITY is re-run with its final threshold (see `searchSimd`); one
 * that overflows even then (more than CAPACITY near-ties, e.g. duplicated codewords) or whose
 * weights could overflow float32 is searched by the float64 scan alone.
 */

/** Candidate slots per query; continuous inputs record ~ln K ≈ 11 indices at K = 2^16. */
export const CAPACITY = 64;
/** Rows per kernel batch: bounds the scratch in wasm memory (weights, state, candidates). */
export const SIMD_BATCH_ROWS = 1024;
/** Φ bytes scored per tile: a tile stays in L2 while every query block of the batch streams over it. */
const TILE_BYTES = 96 * 1024;
/** Larger Φ tables (K·2m·4 bytes) stay on the float64 JS scan rather than reserve wasm memory. */
const MAX_PHI_BYTES = 2 ** 30;
/** |a_k| and Σ|a_k|·max|φ_k| above this could overflow float32 partial sums (max ≈ 3.4e38). */
const FLOAT32_SAFE = 1e30;
const UNIT_ROUNDOFF = 2 ** -24;
const UNDERFLOW = 2 ** -149;
const PAGE = 65536;

export interface SimdKernel {
  readonly scan: ScanFunction;
  readonly memory: WebAssembly.Memory;
  /** Padded feature count of the kernel. */
  readonly width: number;
  readonly panels: number;
  /** max_j |φ_jk| for the 2m real features (float64). */
  readonly featureMax: Float64Array;
  readonly featureMaxSum: number;
  readonly scratch: number;
  readonly weights: number;
  readonly state: number;
  readonly candidates: number;
}

const moduleCache = new Map<number, WebAssembly.Module>();
const kernelCache = new WeakMap<Codebook, SimdKernel | string>();

function align(bytes: number, to: number): number {
  return Math.ceil(bytes / to) * to;
}

/**
 * The kernel instance for a codebook (Φ in its own wasm memory), built once and cached per codebook
 * object; otherwise a sentence saying why it cannot be used (Φ over 1 GiB, |c|² above 1e30, or
 * the engine refused to compile or allocate, e.g. under a Content-Security-Policy without
 * 'wasm-unsafe-eval'). Callers check `wasmSimdSupported()` first.
 */
export function simdKernelFor(codebook: Codebook): SimdKernel | string {
  let kernel = kernelCache.get(codebook);
  if (kernel === undefined) {
    kernel = buildKernel(codebook);
    kernelCache.set(codebook, kernel);
  }
  return kernel;
}

function buildKernel(codebook: Codebook): SimdKernel | string {
  const { values, size, dim } = codebook;
  const features = 2 * dim;
  const width = paddedWidth(dim);
  const panels = Math.ceil(size / PANEL);
  const phiBytes = panels * width * PANEL * 4;
  if (phiBytes > MAX_PHI_BYTES) return `its float32 feature table would take ${phiBytes} bytes of wasm memory (limit ${MAX_PHI_BYTES})`;
  const featureMax = new Float64Array(features);
  for (let j = 0; j < size; j++) {
    for (let d = 0; d < dim; d++) {
      const c = values[j * dim + d]!;
      const square = c * c;
      if (square > featureMax[d]!) featureMax[d] = square;
      if (Math.abs(c) > featureMax[dim + d]!) featureMax[dim + d] = Math.abs(c);
    }
  }
  let featureMaxSum = 0;
  for (let k = 0; k < features; k++) featureMaxSum += featureMax[k]!;
  for (let d = 0; d < dim; d++) {
    if (!(featureMax[d]! <= FLOAT32_SAFE)) {
      return `it needs max |c| ≤ 1e15 (c² within float32), got max |c| = ${featureMax[dim + d]} in dimension ${d}`;
    }
  }
  const scratch = align(phiBytes, 64);
  const weights = scratch + 64;
  const state = weights + SIMD_BATCH_ROWS * width * 4;
  const candidates = state + SIMD_BATCH_ROWS * STATE_BYTES;
  const total = candidates + SIMD_BATCH_ROWS * CAPACITY * 4;
  let memory: WebAssembly.Memory;
  let instance: WebAssembly.Instance;
  try {
    let module = moduleCache.get(width);
    if (module === undefined) {
      module = new WebAssembly.Module(kernelModuleBytes(width));
      moduleCache.set(width, module);
    }
    memory = new WebAssembly.Memory({ initial: Math.ceil(total / PAGE) });
    instance = new WebAssembly.Instance(module, { env: { memory } });
  } catch (error) {
    // The float64 JS scan needs neither compilation nor wasm memory.
    return `the engine refused to compile or allocate it (${error instanceof Error ? error.message : String(error)})`;
  }
  const phi = new Float32Array(memory.buffer, 0, phiBytes / 4);
  for (let p = 0; p < panels; p++) {
    for (let lane = 0; lane < PANEL; lane++) {
      const j = p * PANEL + lane;
      if (j >= size) break; // padding lanes stay 0 and are skipped by the kernel's index check
      for (let d = 0; d < dim; d++) {
        const c = values[j * dim + d]!;
        // Quadratic features round c² (exact in float64) once to float32; linear ones are exact.
        phi[(p * width + d) * PANEL + lane] = c * c;
        phi[(p * width + dim + d) * PANEL + lane] = c;
      }
    }
  }
  return {
    scan: instance.exports.scan as ScanFunction,
    memory,
    width,
    panels,
    featureMax,
    featureMaxSum,
    scratch,
    weights,
    state,
    candidates,
  };
}

/** The float64 scan's score expression for one codeword: Σ_d a_d·c_d² then Σ_d a_{m+d}·c_d, in order. */
function score64(weights: Float64Array, offset: number, values: Float32Array, row: number, dim: number): number {
  let s = 0;
  const base = row * dim;
  for (let d = 0; d < dim; d++) {
    const c = values[base + d]!;
    s += weights[offset + d]! * (c * c);
  }
  for (let d = 0; d < dim; d++) s += weights[offset + dim + d]! * values[base + d]!;
  return s;
}

/** First maximum of the float64 score over all K codewords (the float64 scan for one query). */
function scanOne(weights: Float64Array, offset: number, values: Float32Array, size: number, dim: number): number {
  let best = -Infinity;
  let arg = 0;
  for (let j = 0; j < size; j++) {
    const s = score64(weights, offset, values, j, dim);
    if (s > best) {
      best = s;
      arg = j;
    }
  }
  return arg;
}

/** Work done after the SIMD pass, for `CpuSearchStats`. */
export interface SimdWork {
  /** Codewords re-scored in float64. */
  rescored: number;
  /** Rows searched by the full float64 scan. */
  float64Rows: number;
  /** Rows re-run by the kernel with their final threshold after overflowing the candidate list. */
  rerunRows: number;
}

/** How a row is searched: by the kernel, trivially (every a_k·φ_jk is 0, so index 0), or by float64 alone. */
const KERNEL = 0;
const ALL_ZERO = 1;
const FLOAT64 = 2;

/** Per-row quantities of the float32 error bound (see the file comment). */
function classify(weights: Float64Array, offset: number, features: number, kernel: SimdKernel): { mode: number; tolerance: number } {
  let bound = 0;
  let sumAbs = 0;
  let maxAbs = 0;
  for (let k = 0; k < features; k++) {
    const magnitude = Math.abs(weights[offset + k]!);
    bound += magnitude * kernel.featureMax[k]!;
    sumAbs += magnitude;
    if (magnitude > maxAbs) maxAbs = magnitude;
  }
  if (!(bound <= FLOAT32_SAFE && maxAbs <= FLOAT32_SAFE)) return { mode: FLOAT64, tolerance: 0 };
  if (bound === 0) return { mode: ALL_ZERO, tolerance: 0 };
  const tolerance = 4 * (kernel.width + 4) * UNIT_ROUNDOFF * bound + 4 * UNDERFLOW * (kernel.width + kernel.featureMaxSum + sumAbs);
  // Rounded up, so the float32 tolerance is never below the float64 bound.
  const rounded = Math.fround(tolerance);
  return { mode: KERNEL, tolerance: rounded >= tolerance ? rounded : Math.fround(tolerance * (1 + 2 ** -22)) };
}

/**
 * Writes kernel slot `slot`: the row's float32 weights (zeros when `active` is false) and its state
 * record. Inactive slots get a +∞ threshold, which their zero scores never reach.
 */
function writeSlot(
  kernel: SimdKernel,
  slot: number,
  weights: Float64Array,
  offset: number,
  features: number,
  active: boolean,
  best: number,
  threshold: number,
  tolerance: number,
): void {
  const floats = new Float32Array(kernel.memory.buffer);
  const ints = new Int32Array(kernel.memory.buffer);
  const { width } = kernel;
  const base = kernel.weights / 4 + Math.floor(slot / QUERIES) * width * QUERIES + (slot % QUERIES);
  for (let k = 0; k < width; k++) floats[base + k * QUERIES] = active && k < features ? weights[offset + k]! : 0;
  const record = (kernel.state + slot * STATE_BYTES) / 4;
  floats[record] = active ? best : Infinity;
  floats[record + 1] = active ? threshold : Infinity;
  floats[record + 2] = tolerance;
  ints[record + 3] = 0;
}

function scanAll(kernel: SimdKernel, blocks: number, size: number): void {
  const tilePanels = Math.max(1, Math.floor(TILE_BYTES / (kernel.width * PANEL * 4)));
  for (let start = 0; start < kernel.panels; start += tilePanels) {
    const end = Math.min(start + tilePanels, kernel.panels);
    kernel.scan(kernel.weights, kernel.state, kernel.candidates, blocks, start, end, size, CAPACITY, kernel.scratch, 0);
  }
}

/**
 * Searches `count` ≤ SIMD_BATCH_ROWS queries whose float64 weights are rows of `weights`
 * ([count, 2m]); writes out[outOffset + q] and adds to `work`.
 *
 * Pass 1 scores every row with a running threshold. A row whose list overflowed is run again with
 * its threshold primed at fl32(M − tol) (M its pass-1 maximum; the kernel's arithmetic is
 * deterministic, so the same scores recur), which records only the indices that can win. Rows that
 * overflow even then hold more than CAPACITY near-ties and are searched in float64.
 */
export function searchSimd(
  kernel: SimdKernel,
  codebook: Codebook,
  weights: Float64Array,
  count: number,
  out: Int32Array,
  outOffset: number,
  work: SimdWork,
): void {
  const { values, size, dim } = codebook;
  const features = 2 * dim;
  const modes = new Uint8Array(count);
  const tolerances = new Float32Array(count);
  for (let q = 0; q < count; q++) {
    const { mode, tolerance } = classify(weights, q * features, features, kernel);
    modes[q] = mode;
    tolerances[q] = tolerance;
  }
  const fill = (rows: ArrayLike<number>, primed: Float32Array | null): number => {
    const blocks = Math.ceil(rows.length / QUERIES);
    for (let slot = 0; slot < blocks * QUERIES; slot++) {
      // Slots past the rows repeat the last row (results discarded): padding with zero weights
      // would tie every score at 0 and call the slow path on every panel.
      const i = Math.min(slot, rows.length - 1);
      const q = rows[i]!;
      const active = modes[q] === KERNEL;
      const best = primed === null ? -Infinity : primed[i]!;
      const threshold = primed === null ? -Infinity : Math.fround(best - tolerances[q]!);
      writeSlot(kernel, slot, weights, q * features, features, active, best, threshold, tolerances[q]!);
    }
    return blocks;
  };
  const ints = new Int32Array(kernel.memory.buffer);
  const floats = new Float32Array(kernel.memory.buffer);
  const stateBase = kernel.state / 4;
  const candidateBase = kernel.candidates / 4;
  /** Re-ranks slot `slot`'s candidates for row q in float64; −1 when its list overflowed. */
  const rerank = (slot: number, q: number): number => {
    const recorded = ints[stateBase + (slot * STATE_BYTES) / 4 + 3]!;
    if (recorded > CAPACITY || recorded === 0) return -1;
    const offset = q * features;
    let best = -Infinity;
    let result = -1;
    for (let i = 0; i < recorded; i++) {
      const j = ints[candidateBase + slot * CAPACITY + i]!;
      const s = score64(weights, offset, values, j, dim);
      if (s > best || (s === best && j < result)) {
        best = s;
        result = j;
      }
    }
    work.rescored += recorded;
    return result;
  };

  const allRows = Array.from({ length: count }, (_, q) => q);
  scanAll(kernel, fill(allRows, null), size);
  const overflow: number[] = [];
  for (let q = 0; q < count; q++) {
    if (modes[q] === ALL_ZERO) out[outOffset + q] = 0;
    else if (modes[q] === KERNEL) {
      const result = rerank(q, q);
      if (result >= 0) out[outOffset + q] = result;
      else overflow.push(q);
    }
  }
  const float64Rows: number[] = [];
  for (let q = 0; q < count; q++) if (modes[q] === FLOAT64) float64Rows.push(q);
  if (overflow.length > 0) {
    const primed = new Float32Array(overflow.length);
    overflow.forEach((q, i) => (primed[i] = floats[stateBase + (q * STATE_BYTES) / 4]!));
    scanAll(kernel, fill(overflow, primed), size);
    work.rerunRows += overflow.length;
    overflow.forEach((q, slot) => {
      const result = rerank(slot, q);
      if (result >= 0) out[outOffset + q] = result;
      else float64Rows.push(q);
    });
  }
  for (const q of float64Rows) {
    out[outOffset + q] = scanOne(weights, q * features, values, size, dim);
    work.float64Rows++;
  }
}
