import type { BatchMatMulAttrs, TensorInfo } from '@tensorflow/tfjs-core';
import { RuntimeError } from '../errors.js';
import { backendMemory, batchedGemmFor, gemmCall, type BatchedGemmSimd } from './batched-gemm-simd.js';
import type { KernelResult } from './conv-backprop.js';
import { release, reshape, transpose, type WasmBackendLike } from './wasm-ops.js';

/*
 * wasm's BatchMatMul is fast only for products without transposes: with transposeA it runs a
 * scalar triple loop, and with transposeB it was 10–20× slower than transposing B first and
 * multiplying (measured on [2048, 512]·[128, 512]ᵀ, a linear layer's input gradient). Autodiff of
 * every linear layer and attention product asks for exactly those (dW = xᵀ·dy, dx = dy·Wᵀ), which
 * made a ViT's backward pass ~30× slower than its forward. Materialising the transposed operand
 * first (one memory-bound pass) sends every product down the fast path.
 *
 * That fast path (XNNPACK) is taken only for batch-1 products: wasm multiplies batched operands
 * (attention's [B·heads, T, d] products) in a scalar loop at about 1 GFLOP/s. Those go to a SIMD
 * GEMM over the backend heap instead (`batched-gemm-simd.ts`).
 *
 * Which product goes where, by shape class (old = transpose materialised, then XNNPACK for batch 1
 * or the SIMD GEMM for batched; new = the rule below; ms, medians of 11 interleaved calls in one
 * run on a 2-core x64 machine shared with a background job):
 *
 * - transposeA, any batch: the SIMD GEMM reads A in its stored [K, M] layout, so no transpose is
 *   made. dW = xᵀ·dy of a ViT step (K = 2048 tokens): [2048, 128]ᵀ·[2048, 512] 10.8 → 6.7,
 *   [2048, 512]ᵀ·[2048, 128] 17.1 → 6.8, [2048, 128]ᵀ·[2048, 384] 8.4 → 4.9,
 *   [2048, 128]ᵀ·[2048, 128] 4.1 → 1.7; attention's [128, 64, 64]ᵀ·[128, 64, 32] 1.03 → 0.80,
 *   [128, 64, 32]ᵀ·[128, 64, 64] 0.92 → 0.80. The kernel alone also beat transpose + XNNPACK on
 *   every other shape tried (M, N up to 4096, K from 19 to 8192).
 * - transposeB, batch 1: B (a weight, small) is still materialised (0.1–0.3 ms), then the SIMD
 *   GEMM multiplies instead of XNNPACK. dx = dy·Wᵀ: [2048, 512]·[128, 512]ᵀ 9.3 → 7.3,
 *   [2048, 128]·[512, 128]ᵀ 9.2 → 6.4, [2048, 384]·[128, 384]ᵀ 6.9 → 5.1, [2048, 128]·[128, 128]ᵀ
 *   2.3 → 1.6. A kernel reading B transposed would save only that copy (3 % of these products).
 * - transposeB batched and untransposed batched: unchanged (materialise B, SIMD GEMM): attention's
 *   [128, 64, 64]·[128, 32, 64]ᵀ 0.90 / 0.92, [128, 64, 32]·[128, 32, 64] 0.79 / 0.81.
 * - untransposed batch 1: unchanged, XNNPACK on the operands as given (the 'fallback' path).
 */

const product = (dims: readonly number[]): number => dims.reduce((x, y) => x * y, 1);

/**
 * The broadcast of two batch shapes (tfjs's rule: aligned from the right, 1 stretches), or
 * `undefined` when they are incompatible (wasm's own kernel then reports the error).
 */
function broadcastBatch(a: readonly number[], b: readonly number[]): number[] | undefined {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const x = a[a.length - rank + i] ?? 1;
    const y = b[b.length - rank + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) return undefined;
    out.push(x === 1 ? y : x);
  }
  return out;
}

/** A product the SIMD GEMM takes, with its batch shape and per-operand batch sizes. */
interface SimdPlan {
  readonly gemm: BatchedGemmSimd;
  readonly batchShape: number[];
  readonly batchA: number;
  readonly batchB: number;
}

/**
 * The SIMD plan for a float32 product, when the backend heap is reachable and the module builds;
 * `undefined` sends the product to wasm's kernel. Only batch shapes that flatten to "same size, or
 * one side 1" qualify ([2, 1] against [1, 2] would need strided batches, and wasm's kernel sizes
 * its output for 2 entries there), which covers every product tfjs's ops and gradients ask for.
 */
function simdPlan(backend: WasmBackendLike, a: TensorInfo, b: TensorInfo): SimdPlan | undefined {
  if (a.dtype !== 'float32' || b.dtype !== 'float32') return undefined;
  const outerA = a.shape.slice(0, -2);
  const outerB = b.shape.slice(0, -2);
  const batchShape = broadcastBatch(outerA, outerB);
  if (batchShape === undefined) return undefined;
  const batch = product(batchShape);
  const batchA = product(outerA);
  const batchB = product(outerB);
  if (batch !== Math.max(batchA, batchB) || (batchA !== batchB && Math.min(batchA, batchB) !== 1)) return undefined;
  const memory = backendMemory(backend);
  // The heap must be the memory the tensors live in (the views' offsets are addresses in it).
  if (memory === undefined || backend.typedArrayFromHeap(a).buffer !== memory.buffer) return undefined;
  const gemm = batchedGemmFor(memory);
  return gemm === undefined ? undefined : { gemm, batchShape, batchA, batchB };
}

/** Throw unless a's K (its last axis, or the one before with transposeA) equals b's. */
function checkInner(a: TensorInfo, b: TensorInfo, attrs: BatchMatMulAttrs): void {
  const innerA = a.shape[a.shape.length - (attrs.transposeA ? 2 : 1)];
  const innerB = b.shape[b.shape.length - (attrs.transposeB ? 1 : 2)];
  if (innerA !== innerB) {
    throw new RuntimeError(
      'matmul-shape',
      `batchMatMul: the inner dimensions of a [.., M, K] and b [.., K, N] must match, got a [${a.shape.join(',')}] (transposeA ${attrs.transposeA}) ` +
        `and b [${b.shape.join(',')}] (transposeB ${attrs.transposeB}): K ${innerA} and ${innerB}`,
    );
  }
}

/**
 * out = left·right (left stored transposed, [.., k, m], when `transposedA`) for an untransposed
 * right operand with the plan's batch broadcast, on the SIMD GEMM.
 */
function simdProduct(backend: WasmBackendLike, left: TensorInfo, right: TensorInfo, transposedA: boolean, plan: SimdPlan): TensorInfo {
  const [rows, cols] = left.shape.slice(-2) as [number, number];
  const [m, k] = transposedA ? [cols, rows] : [rows, cols];
  const n = right.shape[right.shape.length - 1]!;
  const call = gemmCall(plan.gemm, transposedA, n, k);
  const out = backend.makeOutput([...plan.batchShape, m, n], 'float32');
  // The packed functions' working buffer, freed as soon as the call returns.
  const scratch = call.scratchBytes > 0 ? backend.makeOutput([call.scratchBytes / 4], 'float32') : undefined;
  let done = false;
  try {
    // Addresses are taken after makeOutput: an allocation may grow the heap (the offsets stay).
    const address = (info: TensorInfo): number => backend.typedArrayFromHeap(info).byteOffset;
    const aStep = plan.batchA === 1 ? 0 : 4 * m * k;
    const bStep = plan.batchB === 1 ? 0 : 4 * k * n;
    const batch = product(plan.batchShape);
    call.run(address(left), address(right), address(out), batch, aStep, bStep, m, n, k, call.kBlock, call.nBlock, scratch === undefined ? 0 : address(scratch));
    done = true;
  } finally {
    if (scratch !== undefined) release(backend, scratch);
    if (!done) release(backend, out);
  }
  return out;
}

function transposeLastTwo(backend: WasmBackendLike, x: TensorInfo): TensorInfo {
  const shape = x.shape;
  const rows = shape[shape.length - 2]!;
  const cols = shape[shape.length - 1]!;
  const batch = shape.slice(0, -2).reduce((a, b) => a * b, 1);
  // A 2-D transpose when there is one matrix (wasm's higher-rank transposes are slower).
  const flat = reshape(backend, x, batch === 1 ? [rows, cols] : [batch, rows, cols]);
  const swapped = transpose(backend, flat, batch === 1 ? [1, 0] : [0, 2, 1]);
  release(backend, flat);
  const out = reshape(backend, swapped, [...shape.slice(0, -2), cols, rows]);
  release(backend, swapped);
  return out;
}

/**
 * BatchMatMul on the SIMD GEMM wherever it applies (float32, heap reachable) except for batch-1
 * products without transposes, which stay on wasm's XNNPACK path. A transposed A is read as
 * stored; a transposed B is materialised first. Without the SIMD GEMM, transposed operands are
 * materialised and wasm's kernel multiplies them. The path is 'fast' for all of these; 'fallback'
 * when wasm's kernel runs on the operands as given: a product without transposes that is batch-1,
 * or any without transposes where the SIMD GEMM is not available.
 * @param original wasm's own kernel function
 * @throws RuntimeError `matmul-shape` when a SIMD product's inner dimensions differ.
 */
export function batchMatMul(
  backend: WasmBackendLike,
  a: TensorInfo,
  b: TensorInfo,
  attrs: BatchMatMulAttrs,
  original: (inputs: { a: TensorInfo; b: TensorInfo }, attrs: BatchMatMulAttrs) => TensorInfo,
): KernelResult {
  const fixA = attrs.transposeA;
  const fixB = attrs.transposeB;
  const found = simdPlan(backend, a, b);
  const batched = found !== undefined && product(found.batchShape) > 1;
  const plan = fixA || fixB || batched ? found : undefined;
  if (plan !== undefined) checkInner(a, b, attrs);
  if (!fixA && !fixB && plan === undefined) return { out: original({ a, b }, attrs), path: 'fallback' };
  // With the SIMD GEMM only B is materialised; A is read in its stored layout.
  const left = fixA && plan === undefined ? transposeLastTwo(backend, a) : a;
  const right = fixB ? transposeLastTwo(backend, b) : b;
  try {
    if (plan !== undefined) return { out: simdProduct(backend, left, right, fixA, plan), path: 'fast' };
    return { out: original({ a: left, b: right }, { transposeA: false, transposeB: false }), path: 'fast' };
  } finally {
    if (left !== a) release(backend, left);
    if (right !== b) release(backend, right);
  }
}
