import type { BatchMatMulAttrs, TensorInfo } from '@tensorflow/tfjs-core';
import type { KernelResult } from './conv-backprop.js';
import { release, reshape, transpose, type WasmBackendLike } from './wasm-ops.js';

/*
 * wasm's BatchMatMul is fast only for products without transposes: with transposeA it runs a
 * scalar triple loop, and with transposeB it was 10–20× slower than transposing B first and
 * multiplying (measured on [2048, 512]·[128, 512]ᵀ, a linear layer's input gradient). Autodiff of
 * every linear layer and attention product asks for exactly those (dW = xᵀ·dy, dx = dy·Wᵀ), which
 * made a ViT's backward pass ~30× slower than its forward. Materialising the transposed operand
 * first (one memory-bound pass) sends every product down the fast path.
 */

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
 * BatchMatMul with transposed operands materialised, so wasm only ever multiplies untransposed ones.
 * @param original wasm's own kernel function
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
  if (!fixA && !fixB) return { out: original({ a, b }, attrs), path: 'fallback' };
  const left = fixA ? transposeLastTwo(backend, a) : a;
  const right = fixB ? transposeLastTwo(backend, b) : b;
  try {
    return { out: original({ a: left, b: right }, { transposeA: false, transposeB: false }), path: 'fast' };
  } finally {
    if (fixA) release(backend, left);
    if (fixB) release(backend, right);
  }
}
