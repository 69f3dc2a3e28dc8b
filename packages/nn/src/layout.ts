import { NnError } from './errors.js';

/*
 * PyTorch stores conv weights as OIHW [out, in, kh, kw] and linear weights as [out, in]; tfjs
 * convolutions want HWIO [kh, kw, in, out] and `x · W` wants [in, out]. These conversions are
 * pure index permutations, so a round trip is bit-exact.
 */

function checkShape(fn: string, shape: readonly number[], rank: number, length: number): void {
  if (shape.length !== rank || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new NnError('bad-shape', `${fn}: shape must be ${rank} non-negative integers, got [${shape.join(',')}]`);
  }
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== length) {
    throw new NnError('bad-shape', `${fn}: data must hold ${count} values for shape [${shape.join(',')}], got ${length}`);
  }
}

/** OIHW [O, I, kh, kw] → HWIO [kh, kw, I, O]. */
export function oihwToHwio(data: Float32Array, shape: readonly number[]): Float32Array {
  checkShape('oihwToHwio', shape, 4, data.length);
  const [o, i, kh, kw] = shape as [number, number, number, number];
  const out = new Float32Array(data.length);
  for (let a = 0; a < o; a++) {
    for (let b = 0; b < i; b++) {
      for (let y = 0; y < kh; y++) {
        for (let x = 0; x < kw; x++) out[((y * kw + x) * i + b) * o + a] = data[((a * i + b) * kh + y) * kw + x]!;
      }
    }
  }
  return out;
}

/** HWIO [kh, kw, I, O] → OIHW [O, I, kh, kw]. */
export function hwioToOihw(data: Float32Array, shape: readonly number[]): Float32Array {
  checkShape('hwioToOihw', shape, 4, data.length);
  const [kh, kw, i, o] = shape as [number, number, number, number];
  const out = new Float32Array(data.length);
  for (let a = 0; a < o; a++) {
    for (let b = 0; b < i; b++) {
      for (let y = 0; y < kh; y++) {
        for (let x = 0; x < kw; x++) out[((a * i + b) * kh + y) * kw + x] = data[((y * kw + x) * i + b) * o + a]!;
      }
    }
  }
  return out;
}

/** Transpose a row-major [rows, cols] matrix: [out, in] ↔ [in, out]. */
export function transposeMatrix(data: Float32Array, shape: readonly number[]): Float32Array {
  checkShape('transposeMatrix', shape, 2, data.length);
  const [rows, cols] = shape as [number, number];
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c]!;
  }
  return out;
}
