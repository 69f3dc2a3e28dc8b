/**
 * Philox4x32-10 (Salmon et al., 2011) with integer-only arithmetic, so every JavaScript engine
 * produces the same words (docs/algorithms.md §2.3).
 */

const MUL_0 = 0xd2511f53;
const MUL_1 = 0xcd9e8d57;
const WEYL_0 = 0x9e3779b9;
const WEYL_1 = 0xbb67ae85;

/**
 * Philox4x32-10 of counter `(c0, c1, c2, c3)` under key `(k0, k1)`, written to `out[0..3]` as
 * unsigned 32-bit words. All inputs are taken modulo 2^32.
 */
export function philox4x32(
  c0: number,
  c1: number,
  c2: number,
  c3: number,
  k0: number,
  k1: number,
  out: Uint32Array,
): void {
  c0 >>>= 0;
  c1 >>>= 0;
  c2 >>>= 0;
  c3 >>>= 0;
  k0 >>>= 0;
  k1 >>>= 0;
  for (let round = 0; round < 10; round++) {
    if (round > 0) {
      k0 = (k0 + WEYL_0) >>> 0;
      k1 = (k1 + WEYL_1) >>> 0;
    }
    // High halves of the 64-bit products from 16-bit limbs: every partial product stays below
    // 2^32 and every sum below 2^53, so doubles represent them exactly.
    const aL0 = MUL_0 & 0xffff;
    const aH0 = MUL_0 >>> 16;
    const bL0 = c0 & 0xffff;
    const bH0 = c0 >>> 16;
    const mid0 = ((aL0 * bL0) >>> 16) + ((aL0 * bH0) & 0xffff) + ((aH0 * bL0) & 0xffff);
    const hi0 = (aH0 * bH0 + ((aL0 * bH0) >>> 16) + ((aH0 * bL0) >>> 16) + (mid0 >>> 16)) >>> 0;
    const lo0 = Math.imul(MUL_0, c0) >>> 0;
    const aL1 = MUL_1 & 0xffff;
    const aH1 = MUL_1 >>> 16;
    const bL1 = c2 & 0xffff;
    const bH1 = c2 >>> 16;
    const mid1 = ((aL1 * bL1) >>> 16) + ((aL1 * bH1) & 0xffff) + ((aH1 * bL1) & 0xffff);
    const hi1 = (aH1 * bH1 + ((aL1 * bH1) >>> 16) + ((aH1 * bL1) >>> 16) + (mid1 >>> 16)) >>> 0;
    const lo1 = Math.imul(MUL_1, c2) >>> 0;
    const n0 = (hi1 ^ c1 ^ k0) >>> 0;
    const n2 = (hi0 ^ c3 ^ k1) >>> 0;
    c0 = n0;
    c1 = lo1;
    c2 = n2;
    c3 = lo0;
  }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
}

/** Uniform in (0, 1) from two words: u = (2k + 1)·2^−53 with the 52-bit k = (w0 >>> 12)·2^32 + w1. */
export function uniformFromWords(w0: number, w1: number): number {
  const k = (w0 >>> 12) * 4294967296 + (w1 >>> 0);
  return (2 * k + 1) * 1.1102230246251565e-16;
}
