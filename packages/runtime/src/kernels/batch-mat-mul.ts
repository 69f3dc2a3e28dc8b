import type { BatchMatMulAttrs, TensorInfo, _FusedMatMulAttrs } from '@tensorflow/tfjs-core';
import { RuntimeError } from '../errors.js';
import { batchedGemmFor, gemmCall, type BatchedGemmSimd } from './batched-gemm-simd.js';
import type { KernelResult } from './conv-backprop.js';
import { backendMemory, release, reshape, transpose, type WasmBackendLike } from './wasm-ops.js';

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
 * - untransposed batch 1: the SIMD GEMM unless the output is narrow with scalar columns
 *   (`simdBeatsXnnpack`: n mod 4 ≠ 0 and n < 16), which stay on XNNPACK (the 'fallback' path).
 *   XNNPACK ms / SIMD kernel ms (medians of 9–11 interleaved calls, one run, 2-core x64 shared
 *   with two background jobs): the ViT's linear layers [2048, 128]·[128, 384] 7.00 / 4.86,
 *   [2048, 128]·[128, 512] 8.95 / 6.38, [2048, 512]·[512, 128] 8.76 / 6.58, [2048, 128]·[128, 128]
 *   2.20 / 1.56; [512]³ 8.9 / 6.4, [1024]³ 69.5 / 50.3, [64, 2048]·[2048, 64] 0.55 / 0.40,
 *   [2048, 128]·[128, 33] 0.69 / 0.45 (every n ≥ 16 and every multiple of 4 tried: 0.5–0.85×).
 *   Scalar column tails lose where n is small: [2048, 512]·[512, 3] 0.61 / 0.84, [512, 7]
 *   0.65 / 1.06, [512, 11] 1.21 / 1.20, [512, 19] 1.68 / 1.57, [2048, 64]·[64, 7] 0.09 / 0.13.
 * - _FusedMatMul (tf.fused.matMul, a linear layer's forward; `fusedMatMul`): wasm's kernel is
 *   XNNPACK with the bias fused and timed like the plain product (7.0, 8.9, 8.7, 2.2 ms on the four
 *   shapes above), so the same rule applies, the bias added by the GEMM's first K block at no
 *   extra pass; activations and PReLU stay on wasm's kernel. A whole ViT cpu32 step (batch 32,
 *   one thread, 7 interleaved rounds against the previous rule, two runs): train 1160 → 1097 and
 *   1256 → 1206 ms (0.95×, 0.96×), encode 207 → 175 and 256 → 179 ms (0.84×, 0.70×).
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
 * out = left·right (+ bias, n floats added to every row, where given) (left stored transposed,
 * [.., k, m], when `transposedA`) for an untransposed right operand with the plan's batch
 * broadcast, on the SIMD GEMM.
 */
function simdProduct(backend: WasmBackendLike, left: TensorInfo, right: TensorInfo, transposedA: boolean, plan: SimdPlan, bias?: TensorInfo): TensorInfo {
  const [rows, cols] = left.shape.slice(-2) as [number, number];
  const [m, k] = transposedA ? [cols, rows] : [rows, cols];
  const n = right.shape[right.shape.length - 1]!;
  const call = gemmCall(plan.gemm, transposedA, n, k, { bias: bias !== undefined });
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
    const biasAt = bias === undefined ? 0 : address(bias);
    call.run(address(left), address(right), address(out), batch, aStep, bStep, m, n, k, call.kBlock, call.nBlock, scratch === undefined ? 0 : address(scratch), biasAt);
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
 * Whether an untransposed batch-1 product with n output columns runs faster on the SIMD GEMM than
 * on XNNPACK: always, unless n mod 4 leaves scalar columns that outweigh the vector ones (n < 16
 * and not a multiple of 4; see the module comment).
 */
function simdBeatsXnnpack(n: number): boolean {
  return n % 4 === 0 || n >= 16;
}

/** The column count of a product's output (b's last axis, or the one before with transposeB). */
function outputColumns(b: TensorInfo, transposeB: boolean): number {
  return b.shape[b.shape.length - (transposeB ? 2 : 1)]!;
}

/**
 * The product on the SIMD GEMM (plus `bias`, where given): A read as stored, a transposed B
 * materialised first.
 */
function simdRoute(backend: WasmBackendLike, a: TensorInfo, b: TensorInfo, transposeA: boolean, transposeB: boolean, plan: SimdPlan, bias?: TensorInfo): TensorInfo {
  const right = transposeB ? transposeLastTwo(backend, b) : b;
  try {
    return simdProduct(backend, a, right, transposeA, plan, bias);
  } finally {
    if (right !== b) release(backend, right);
  }
}

/**
 * BatchMatMul on the SIMD GEMM wherever it applies (float32, heap reachable), except for batch-1
 * products without transposes whose output is narrow with a scalar column tail (`simdBeatsXnnpack`),
 * which stay on wasm's XNNPACK path. A transposed A is read as stored; a transposed B is
 * materialised first. Without the SIMD GEMM, transposed operands are materialised and wasm's
 * kernel multiplies them. The path is 'fast' for all of these; 'fallback' when wasm's kernel runs
 * on the operands as given: a product without transposes that stays on XNNPACK, or any without
 * transposes where the SIMD GEMM is not available.
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
  const plan = fixA || fixB || batched || simdBeatsXnnpack(outputColumns(b, fixB)) ? found : undefined;
  if (plan !== undefined) {
    checkInner(a, b, attrs);
    return { out: simdRoute(backend, a, b, fixA, fixB, plan), path: 'fast' };
  }
  if (!fixA && !fixB) return { out: original({ a, b }, attrs), path: 'fallback' };
  // Without the SIMD GEMM: materialise the transposed operands for wasm's untransposed fast path.
  const left = fixA ? transposeLastTwo(backend, a) : a;
  const right = fixB ? transposeLastTwo(backend, b) : b;
  try {
    return { out: original({ a: left, b: right }, { transposeA: false, transposeB: false }), path: 'fast' };
  } finally {
    if (left !== a) release(backend, left);
    if (right !== b) release(backend, right);
  }
}

/** The inputs of `_FusedMatMul`. */
export interface FusedMatMulInputs {
  readonly a: TensorInfo;
  readonly b: TensorInfo;
  readonly bias?: TensorInfo;
  readonly preluActivationWeights?: TensorInfo;
}

/**
 * `_FusedMatMul` (tf.fused.matMul: a linear layer's forward) on the SIMD GEMM with the bias added
 * in the same pass, where it is a plain affine map: no activation ('linear'), no PReLU weights, a
 * float32 bias of exactly n entries or none, and a product `batchMatMul` would itself send to the
 * SIMD GEMM. Everything else (activations, other bias shapes, narrow outputs, an unreachable
 * heap) runs wasm's own kernel ('fallback'). Gradients of fused matMul call BatchMatMul, so only
 * the forward is here.
 * @param original wasm's own `_FusedMatMul` kernel function
 * @throws RuntimeError `matmul-shape` when a SIMD product's inner dimensions differ.
 */
export function fusedMatMul(
  backend: WasmBackendLike,
  inputs: FusedMatMulInputs,
  attrs: _FusedMatMulAttrs,
  original: () => TensorInfo,
): KernelResult {
  const { a, b, preluActivationWeights } = inputs;
  // tfjs passes absent optional inputs as undefined or null.
  const bias = inputs.bias ?? undefined;
  const { transposeA, transposeB, activation } = attrs;
  const n = outputColumns(b, transposeB);
  const affine = (activation === undefined || activation === 'linear') && (preluActivationWeights ?? undefined) === undefined;
  const biasFits = bias === undefined || (bias.dtype === 'float32' && bias.shape.length === 1 && bias.shape[0] === n);
  const found = affine && biasFits ? simdPlan(backend, a, b) : undefined;
  const routed = found !== undefined && (transposeA || transposeB || product(found.batchShape) > 1 || simdBeatsXnnpack(n));
  if (!routed) return { out: original(), path: 'fallback' };
  checkInner(a, b, { transposeA, transposeB });
  return { out: simdRoute(backend, a, b, transposeA, transposeB, found, bias), path: 'fast' };
}
