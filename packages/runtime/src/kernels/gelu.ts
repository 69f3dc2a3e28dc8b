import type { TensorInfo } from '@tensorflow/tfjs-core';
import { erfcCoefficients, normSimdFor, type NormSimd } from './norm-simd.js';
import { backendMemory, type WasmBackendLike } from './wasm-ops.js';

/*
 * GELU in its exact form, x·Φ(x), and its gradient Φ(x) + x·φ(x), as single passes over the wasm
 * heap. Φ comes from one erfc fit (relative error below 1.2e-7 for every argument), so the lower
 * tail keeps its precision where 1 + erf(x/√2) would cancel. Whole groups of four values run in
 * the SIMD loop; the last 1–3 values, and every value where the heap is out of reach, run the same
 * formula in float64 here.
 */

/** Φ(x) from the erfc fit, in float64. */
function phi(x: number): number {
  const z = Math.abs(x) * Math.SQRT1_2;
  const t = 1 / (1 + 0.5 * z);
  let p = erfcCoefficients[erfcCoefficients.length - 1]!;
  for (let i = erfcCoefficients.length - 2; i >= 0; i--) p = p * t + erfcCoefficients[i]!;
  const h = 0.5 * t * Math.exp(p - z * z);
  return x >= 0 ? 1 - h : h;
}

const inverseSqrt2Pi = 1 / Math.sqrt(2 * Math.PI);

/** The SIMD functions where the heap they read is the backend's memory, else undefined. Call after the kernel's last allocation. */
function simdOf(backend: WasmBackendLike, out: TensorInfo): NormSimd | undefined {
  const memory = backendMemory(backend);
  return memory !== undefined && memory.buffer === (backend.typedArrayFromHeap(out) as Float32Array).buffer ? normSimdFor(memory) : undefined;
}

/** y = x·Φ(x), elementwise. */
export function geluForward(backend: WasmBackendLike, x: TensorInfo): TensorInfo {
  const out = backend.makeOutput([...x.shape], 'float32');
  const xs = backend.typedArrayFromHeap(x) as Float32Array;
  const ys = backend.typedArrayFromHeap(out) as Float32Array;
  const simd = simdOf(backend, out);
  const quads = simd === undefined ? 0 : xs.length - (xs.length % 4);
  if (quads > 0) simd!.gelu(xs.byteOffset, ys.byteOffset, 4 * quads);
  for (let i = quads; i < xs.length; i++) ys[i] = xs[i]! * phi(xs[i]!);
  return out;
}

/** dx = dy·(Φ(x) + x·φ(x)), elementwise, with φ the standard normal density. */
export function geluBackward(backend: WasmBackendLike, dy: TensorInfo, x: TensorInfo): TensorInfo {
  const out = backend.makeOutput([...x.shape], 'float32');
  const dys = backend.typedArrayFromHeap(dy) as Float32Array;
  const xs = backend.typedArrayFromHeap(x) as Float32Array;
  const dxs = backend.typedArrayFromHeap(out) as Float32Array;
  const simd = simdOf(backend, out);
  const quads = simd === undefined ? 0 : xs.length - (xs.length % 4);
  if (quads > 0) simd!.geluGrad(dys.byteOffset, xs.byteOffset, dxs.byteOffset, 4 * quads);
  for (let i = quads; i < xs.length; i++) {
    const v = xs[i]!;
    dxs[i] = dys[i]! * (phi(v) + v * inverseSqrt2Pi * Math.exp(-0.5 * v * v));
  }
  return out;
}
