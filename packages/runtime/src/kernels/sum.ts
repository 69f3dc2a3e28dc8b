import { util, type SumAttrs, type TensorInfo } from '@tensorflow/tfjs-core';
import type { KernelResult } from './conv-backprop.js';
import { normSimdFor } from './norm-simd.js';
import { backendMemory, type WasmBackendLike } from './wasm-ops.js';

/*
 * Sum over the leading axes of a tensor: [R, C] viewed row-major, summed over its rows to [C].
 * This is every bias gradient (dβ = Σ dy over the batch and token/pixel axes) and autodiff's
 * reduction of broadcast gradients. wasm's Sum reduces only innermost axes, so for these it first
 * transposes the whole input to [C, R] (a rank-2 or rank-3 transpose, one full copy) and then
 * sums each row with a scalar loop. In a ViT cpu32 training step (batch 32: activations
 * [2048, 128] and [2048, 512], also as [32, 64, C]) that cost 178 ms of a ~1080 ms step over 47
 * calls; in the UNet 26 ms of 800.
 *
 * Here the rows are summed in place on the wasm heap by 128-bit SIMD WebAssembly
 * (`columnSumsBlocked` in norm-simd.ts, the normalisation kernels' column-sum loop with a separate
 * row stride): float32 accumulators over blocks of `blockRows` rows, drained into float64, rounded
 * to float32 once at the end. Each output is then a float64 sum of float32 partial sums of at most
 * 64 terms, so its error is bounded by ~64·ε·Σ|x| rather than the R·ε·Σ|x| of wasm's running
 * float32 sum over all R rows. The 1–3 columns past the last multiple of 4 (C = 130, C = 3) are
 * summed by a float64 JS loop over the same heap.
 *
 * Measured (medians of 15 interleaved calls in one run, 2-core x64 shared with a background
 * bench; wasm's kernel → this one, ms): [2048, 128] over [0] 1.72 → 0.059, [2048, 512] 12.1 →
 * 0.22, [2048, 384] 10.2 → 0.15, [2048, 130] 2.12 → 0.056, [32, 64, 128] over [0, 1] 0.45 → 0.041,
 * [32, 64, 512] 6.8 → 0.20. A ViT cpu32 train step (5 interleaved rounds, one thread, own run):
 * 1161 → 947 ms, Sum 180 → 6.8 ms over its 47 calls; UNet cpu32 (its own run): 1723 → 1661 ms,
 * Sum 64 → 4.5 ms over 37 calls.
 *
 * Everything else goes to wasm's own kernel: reductions that include the innermost axis (wasm
 * needs no transpose there), axes that are not a leading prefix, non-float32 dtypes, outputs with
 * no elements and backends whose heap memory is out of reach. An input with no rows sums to zeros
 * here, where wasm's kernel would return its uninitialised output buffer.
 */

/** Rows per float32 accumulation block before the sums move to float64 (as the norm kernels). */
const blockRows = 64;

/** Where a Sum is served from: the reduced prefix length and the [R, C] view, or undefined for wasm's kernel. */
interface PrefixPlan {
  readonly reduced: number;
  readonly rows: number;
  readonly columns: number;
}

/**
 * The [R, C] view when `axis` (after tfjs's normalisation: negatives wrapped, `null` meaning all
 * axes) is exactly the axes 0 … k − 1 for some 0 < k < rank, in any order, and the tensor is a
 * float32 with at least one column; else undefined. Repeated axes fail the check and go to wasm's
 * kernel.
 */
export function leadingAxesPlan(x: TensorInfo, axis: SumAttrs['axis']): PrefixPlan | undefined {
  if (x.dtype !== 'float32') return undefined;
  const rank = x.shape.length;
  const axes = [...util.parseAxisParam(axis, x.shape)].sort((a, b) => a - b);
  const reduced = axes.length;
  if (reduced === 0 || reduced >= rank) return undefined;
  if (axes.some((a, i) => a !== i)) return undefined;
  const rows = util.sizeFromShape(x.shape.slice(0, reduced));
  const columns = util.sizeFromShape(x.shape.slice(reduced));
  // No rows: zeros (wasm's kernel skips empty inputs and returns its output buffer unwritten).
  if (columns === 0) return undefined;
  return { reduced, rows, columns };
}

/**
 * Sum over leading axes on the wasm heap (see the file comment), or `fallback()` (wasm's kernel)
 * for every other case. The output has shape x.shape[k:] (with k leading 1s when `keepDims`).
 */
export function sumLeadingAxes(backend: WasmBackendLike, x: TensorInfo, attrs: SumAttrs, fallback: () => TensorInfo): KernelResult {
  const plan = leadingAxesPlan(x, attrs.axis);
  const memory = plan === undefined ? undefined : backendMemory(backend);
  if (plan === undefined || memory === undefined) return { out: fallback(), path: 'fallback' };
  const { reduced, rows, columns } = plan;
  const kept = x.shape.slice(reduced);
  const out = backend.makeOutput(attrs.keepDims ? [...Array<number>(reduced).fill(1), ...kept] : kept, 'float32');
  const simdColumns = columns & ~3;
  // Scratch: the float32 block (simdColumns) and, 8-byte aligned, the float64 sums (2 floats each).
  const scratch = simdColumns > 0 ? backend.makeOutput([3 * simdColumns + 1], 'float32') : undefined;
  try {
    // Views are taken after the last allocation: one may grow (and detach) the wasm heap.
    const xView = backend.typedArrayFromHeap(x) as Float32Array;
    const outView = backend.typedArrayFromHeap(out) as Float32Array;
    if (xView.buffer !== memory.buffer) {
      backend.disposeData(out.dataId);
      return { out: fallback(), path: 'fallback' };
    }
    if (scratch !== undefined) {
      const scratchView = backend.typedArrayFromHeap(scratch) as Float32Array;
      const block = scratchView.byteOffset;
      const sums = (block + 4 * simdColumns + 7) & ~7;
      new Float32Array(memory.buffer, block, simdColumns).fill(0);
      const sumView = new Float64Array(memory.buffer, sums, simdColumns);
      sumView.fill(0);
      normSimdFor(memory).columnSumsBlocked(xView.byteOffset, rows, 4 * columns, 4 * simdColumns, blockRows, block, sums);
      // Float32Array assignment rounds each float64 sum to nearest, as Math.fround.
      outView.set(sumView);
    }
    for (let c = simdColumns; c < columns; c++) {
      let s = 0;
      for (let r = 0, i = c; r < rows; r++, i += columns) s += xView[i]!;
      outView[c] = s;
    }
  } finally {
    if (scratch !== undefined) backend.disposeData(scratch.dataId);
  }
  return { out, path: 'fast' };
}
