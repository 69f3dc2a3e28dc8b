/*
 * Sobol direction numbers from Joe and Kuo's new-joe-kuo-6.21201 set (the one PyTorch's SobolEngine
 * ships), dimensions 1..32: shared by the package's own 'sobol' generator and by 'torch-sobol'.
 */

/** Joe–Kuo new-joe-kuo-6.21201 entries d = 2..32: [degree s, coefficients a, m_1..m_s]. */
const JOE_KUO: readonly (readonly number[])[] = [
  [1, 0, 1],
  [2, 1, 1, 3],
  [3, 1, 1, 3, 1],
  [3, 2, 1, 1, 1],
  [4, 1, 1, 1, 3, 3],
  [4, 4, 1, 3, 5, 13],
  [5, 2, 1, 1, 5, 5, 17],
  [5, 4, 1, 1, 5, 5, 5],
  [5, 7, 1, 1, 7, 11, 19],
  [5, 11, 1, 1, 5, 1, 1],
  [5, 13, 1, 1, 1, 3, 11],
  [5, 14, 1, 3, 5, 5, 31],
  [6, 1, 1, 3, 3, 9, 7, 49],
  [6, 13, 1, 1, 1, 15, 21, 21],
  [6, 16, 1, 3, 1, 13, 27, 49],
  [6, 19, 1, 1, 1, 15, 7, 5],
  [6, 22, 1, 3, 1, 15, 13, 25],
  [6, 25, 1, 1, 5, 5, 19, 61],
  [7, 1, 1, 3, 7, 11, 23, 15, 103],
  [7, 4, 1, 3, 7, 13, 13, 15, 69],
  [7, 7, 1, 1, 3, 13, 7, 35, 63],
  [7, 8, 1, 3, 5, 9, 1, 25, 53],
  [7, 14, 1, 3, 1, 13, 9, 35, 107],
  [7, 19, 1, 3, 1, 5, 27, 61, 31],
  [7, 21, 1, 1, 5, 11, 19, 41, 61],
  [7, 28, 1, 3, 5, 3, 3, 13, 69],
  [7, 31, 1, 1, 7, 13, 1, 19, 1],
  [7, 32, 1, 3, 7, 5, 13, 19, 59],
  [7, 37, 1, 1, 3, 9, 25, 29, 41],
  [7, 41, 1, 3, 5, 13, 23, 1, 55],
  [7, 42, 1, 3, 7, 3, 13, 59, 17],
];

/** How many dimensions have direction numbers here: j = 0..SOBOL_DIMENSIONS − 1. */
export const SOBOL_DIMENSIONS = JOE_KUO.length + 1;

/** Unscrambled 32-bit, MSB-aligned Sobol direction numbers V_j[0..31] of dimension j. */
export function sobolDirections(j: number): Uint32Array {
  const v = new Uint32Array(32);
  if (j === 0) {
    for (let b = 0; b < 32; b++) v[b] = (1 << (31 - b)) >>> 0;
    return v;
  }
  const entry = JOE_KUO[j - 1]!;
  const s = entry[0]!;
  const a = entry[1]!;
  for (let b = 0; b < s; b++) v[b] = (entry[2 + b]! << (31 - b)) >>> 0;
  for (let b = s; b < 32; b++) {
    let x = v[b - s]! ^ (v[b - s]! >>> s);
    for (let k = 1; k < s; k++) {
      if ((a >>> (s - 1 - k)) & 1) x ^= v[b - k]!;
    }
    v[b] = x >>> 0;
  }
  return v;
}

/** Parity (XOR of all bits) of a 32-bit word: one bit of a GF(2) matrix–vector product. */
export function parity32(x: number): number {
  x ^= x >>> 16;
  x ^= x >>> 8;
  x ^= x >>> 4;
  x ^= x >>> 2;
  x ^= x >>> 1;
  return x & 1;
}
