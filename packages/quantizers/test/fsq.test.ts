import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { seededNormal, setupBackend } from '@gq/test-utils';
import { fsq, QuantizerError } from '@gq/quantizers';

/** float64 oracle of one FSQ channel. */
function channel(L: number) {
  const half = ((L - 1) * 1.001) / 2;
  const offset = L % 2 === 0 ? 0.5 : 0;
  const shift = Math.atanh(offset / half);
  const halfWidth = Math.floor(L / 2);
  return {
    bounded: (z: number) => Math.tanh(z + shift) * half - offset,
    derivative: (z: number) => (1 - Math.tanh(z + shift) ** 2) * half,
    /** The z whose bounded value is exactly the integer q. */
    preimage: (q: number) => Math.atanh((q + offset) / half) - shift,
    halfWidth,
  };
}

/** Round half to even, as torch.round and tf.round. */
const roundHalfEven = (x: number): number => {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
};

describe('fsq', () => {
  beforeAll(async () => {
    await setupBackend('cpu');
  });

  it('bounds: b(0) = 0 and q ranges {−4..3} (L = 8), {−2..2} (L = 5), {−8..7} (L = 16)', () => {
    for (const [L, lo, hi] of [[8, -4, 3], [5, -2, 2], [16, -8, 7]] as const) {
      const c = channel(L);
      expect(Math.abs(c.bounded(0))).toBeLessThan(1e-15);
      expect(roundHalfEven(c.bounded(-50))).toBe(lo);
      expect(roundHalfEven(c.bounded(50))).toBe(hi);
    }
  });

  it('matches a float64 oracle for codes and mixed-radix indices (first level most significant)', async () => {
    const levels = [8, 5, 5, 3];
    const q = fsq({ levels });
    expect(q.codebookSize).toBe(600);
    expect(q.bitsPerPosition).toBeCloseTo(Math.log2(600), 12);
    const normal = seededNormal(2);
    const n = 64;
    const values = Float32Array.from({ length: n * 4 }, () => 1.5 * normal());
    const z = tf.tensor3d(values, [2, n / 2, 4]);
    const { zq, indices, auxLoss, stats } = q.quantize(z);
    expect(indices.shape).toEqual([2, n / 2, 1]);
    const [codes, idx, aux] = await Promise.all([zq.data(), indices.data(), auxLoss.data()]);
    expect(aux[0]).toBe(0);
    for (let p = 0; p < n; p++) {
      let expected = 0;
      let nearHalf = false;
      for (let i = 0; i < 4; i++) {
        const c = channel(levels[i]!);
        const b = c.bounded(values[p * 4 + i]!);
        // float32 tanh may round differently within ~1e-6 of a .5 boundary: skip those positions.
        if (Math.abs(Math.abs(b % 1) - 0.5) < 1e-4) nearHalf = true;
        const qi = roundHalfEven(b);
        expected = expected * levels[i]! + (qi + c.halfWidth);
        expect(codes[p * 4 + i]).toBeCloseTo(qi / c.halfWidth, 6);
      }
      if (!nearHalf) expect(idx[p]).toBe(expected);
    }
    tf.dispose([z, zq, indices, auxLoss]);
    stats.dispose();
  });

  it('index ↔ code round trip is exact for every index, and there are Π L distinct codes', async () => {
    const levels = [4, 3, 2];
    const q = fsq({ levels });
    const all = tf.tensor2d(Array.from({ length: 24 }, (_, i) => [i]), [24, 1], 'int32');
    const codes = q.dequantize(all);
    const codeValues = await codes.data();
    expect(new Set(Array.from({ length: 24 }, (_, i) => Array.from(codeValues.slice(i * 3, i * 3 + 3)).join())).size).toBe(24);
    // Pre-image of each code: z with tanh(z + shift)·half − offset = q exactly (float64), then float32.
    const pre = Float32Array.from(codeValues, (v, k) => {
      const c = channel(levels[k % 3]!);
      return c.preimage(Math.round(v * c.halfWidth));
    });
    const z = tf.tensor2d(pre, [24, 3]);
    const { zq, indices, stats } = q.quantize(z);
    expect(Array.from(await indices.data())).toEqual(Array.from({ length: 24 }, (_, i) => i));
    expect(Array.from(await zq.data())).toEqual(Array.from(codeValues));
    tf.dispose([all, codes, z, zq, indices]);
    stats.dispose();
  });

  it('[4,4] has 2^4 codes; [16]×8 (2^32) splits into two 16-bit sub-indices that round-trip', async () => {
    const small = fsq({ levels: [4, 4] });
    expect(small.bitsPerPosition).toBe(4);
    const every = tf.tensor2d(Array.from({ length: 16 }, (_, i) => [i]), [16, 1], 'int32');
    const smallCodesT = small.dequantize(every);
    const smallCodes = await smallCodesT.data();
    expect(new Set(Array.from({ length: 16 }, (_, i) => `${smallCodes[2 * i]},${smallCodes[2 * i + 1]}`)).size).toBe(2 ** small.bitsPerPosition);
    tf.dispose([every, smallCodesT]);
    const big = fsq({ levels: Array(8).fill(16) });
    expect(big.indexGroups).toEqual([[16, 16, 16, 16], [16, 16, 16, 16]]);
    expect(big.tokensPerPosition).toBe(2);
    expect(big.bitsPerPosition).toBe(32);
    const sample = tf.tensor2d([[0, 65535], [12345, 54321]], [2, 2], 'int32');
    const codes = big.dequantize(sample);
    const pre = tf.tensor2d(Float32Array.from(await codes.data(), (v) => channel(16).preimage(Math.round(v * 8))), [2, 8]);
    const { zq, indices, stats } = big.quantize(pre);
    expect(Array.from(await indices.data())).toEqual([0, 65535, 12345, 54321]);
    tf.dispose([sample, codes, pre, zq, indices]);
    stats.dispose();
  });

  it('training output is straight-through on b: d zq / d z = tanh′(z + shift)·half / ⌊L/2⌋', async () => {
    const levels = [8, 5];
    const q = fsq({ levels });
    const zValues = [0.3, -1.2, 2.1, 0.05];
    const weights = [1, -2, 0.5, 3];
    const z = tf.tensor2d(zValues, [2, 2]);
    const w = tf.tensor2d(weights, [2, 2]);
    const grad = tf.grad((x: tf.Tensor) => {
      const out = q.quantize(x, { training: true });
      out.stats.dispose();
      return tf.sum(tf.mul(out.zq, w));
    })(z);
    const g = await grad.data();
    for (let k = 0; k < 4; k++) {
      const c = channel(levels[k % 2]!);
      expect(g[k]).toBeCloseTo((weights[k]! * c.derivative(zValues[k]!)) / c.halfWidth, 5);
    }
    tf.dispose([z, w, grad]);
  });

  it('rejects levels < 2, non-integers and empty lists; rejects wrong latent shapes', () => {
    expect(() => fsq({ levels: [8, 1] })).toThrow('fsq: levels must be integers in [2, 65536], got levels[1] = 1');
    expect(() => fsq({ levels: [2.5] })).toThrow(QuantizerError);
    expect(() => fsq({ levels: [] })).toThrow(QuantizerError);
    const z = tf.zeros([2, 3]);
    expect(() => fsq({ levels: [8, 8] }).quantize(z)).toThrow('fsq.quantize: z must have rank ≥ 2 and last dimension 2, got shape [2,3]');
    z.dispose();
  });
});
