import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { seededNormal, setupBackend } from '@gq/test-utils';
import { QuantizerError, tokenBridge } from '@gq/quantizers';

const pdf = (x: number): number => Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI);

/** Composite Simpson's rule with n (even) panels: error ~ (b−a)·h⁴·max|f⁗|/180 < 1e-12 here. */
function simpson(f: (x: number) => number, a: number, b: number, n = 2000): number {
  const h = (b - a) / n;
  let sum = f(a) + f(b);
  for (let i = 1; i < n; i++) sum += (i % 2 ? 4 : 2) * f(a + i * h);
  return (sum * h) / 3;
}

describe('tokenBridge', () => {
  beforeAll(async () => {
    await setupBackend('cpu');
  });

  it('reconstruction values match §6.5 (B = 1: ±0.791157, or ±0.797885 unclipped; B = 2: ±0.324663, ±1.260183)', () => {
    const one = tokenBridge({ bits: 1, channels: 1 }).values;
    expect(one[0]).toBeCloseTo(-0.791157, 6);
    expect(one[1]).toBeCloseTo(0.791157, 6);
    expect(tokenBridge({ bits: 1, channels: 1, range: 40 }).values[1]).toBeCloseTo(Math.sqrt(2 / Math.PI), 12);
    const two = tokenBridge({ bits: 2, channels: 1 }).values;
    [-1.260183, -0.324663, 0.324663, 1.260183].forEach((v, i) => expect(two[i]).toBeCloseTo(v, 6));
  });

  for (const bits of [1, 2, 3, 4]) {
    it(`B = ${bits}: bins carry equal probability and values are E[x | bin] (numerical integration)`, () => {
      const q = tokenBridge({ bits, channels: 1 });
      const L = 2 ** bits;
      const r = q.range;
      const tail = simpson(pdf, r, 12);
      for (let i = 0; i < L; i++) {
        const a = q.boundaries[i]!;
        const b = q.boundaries[i + 1]!;
        const mass = simpson(pdf, a, b);
        // The clip at ±r removes the tail beyond r from the two end bins only.
        const expected = 1 / L - (i === 0 || i === L - 1 ? tail : 0);
        expect(Math.abs(mass - expected)).toBeLessThan(1e-6);
        const centroid = simpson((x) => x * pdf(x), a, b) / mass;
        expect(Math.abs(centroid - q.values[i]!)).toBeLessThan(1e-6);
      }
    });
  }

  it("'nearest' differs from bin membership on ~7% of N(0,1) values at B = 2 and has the lower MSE (0.1316 vs 0.1396)", async () => {
    const n = 40000;
    const normal = seededNormal(21);
    const values = Float32Array.from({ length: n }, () => normal());
    const z = tf.tensor2d(values, [n / 4, 4]);
    const nearest = tokenBridge({ bits: 2, channels: 4 }).quantize(z);
    const bin = tokenBridge({ bits: 2, channels: 4, assign: 'bin' }).quantize(z);
    const [a, b, za, zb] = await Promise.all([nearest.indices.data(), bin.indices.data(), nearest.zq.data(), bin.zq.data()]);
    let differ = 0;
    let mseNearest = 0;
    let mseBin = 0;
    for (let i = 0; i < n; i++) {
      if (a[i] !== b[i]) differ++;
      mseNearest += (za[i]! - values[i]!) ** 2 / n;
      mseBin += (zb[i]! - values[i]!) ** 2 / n;
    }
    // Sampling error of a fraction near 0.07 with n = 40 000: 0.0013; of the MSEs ~0.002. Allow ~3σ.
    expect(Math.abs(differ / n - 0.07)).toBeLessThan(0.006);
    expect(Math.abs(mseNearest - 0.1316)).toBeLessThan(0.006);
    expect(Math.abs(mseBin - 0.1396)).toBeLessThan(0.006);
    expect(mseNearest).toBeLessThan(mseBin);
    tf.dispose([z, nearest.zq, nearest.indices, nearest.auxLoss, bin.zq, bin.indices, bin.auxLoss]);
    nearest.stats.dispose();
    bin.stats.dispose();
  });

  it('index ↔ code round trip is exact (also with scale 0.6); training gradient is the identity', async () => {
    for (const scale of [1, 0.6]) {
      const q = tokenBridge({ bits: 3, channels: 8, scale });
      expect(q.bitsPerPosition).toBe(24);
      const all = tf.tensor2d([[0, 1, 2, 3, 4, 5, 6, 7], [7, 6, 5, 4, 3, 2, 1, 0]], [2, 8], 'int32');
      const codes = q.dequantize(all);
      const codeValues = await codes.data();
      for (let i = 0; i < 8; i++) expect(codeValues[i]).toBeCloseTo(q.values[i]! / scale, 6);
      const back = q.quantize(codes);
      expect(Array.from(await back.indices.data())).toEqual(Array.from(await all.data()));
      const grad = tf.grad((x: tf.Tensor) => {
        const out = q.quantize(x, { training: true });
        out.stats.dispose();
        return tf.sum(tf.mul(out.zq, tf.reshape(tf.range(0, 16), [2, 8])));
      })(codes);
      expect(Array.from(await grad.data())).toEqual(Array.from({ length: 16 }, (_, i) => i));
      tf.dispose([all, codes, back.zq, back.indices, back.auxLoss, grad]);
      back.stats.dispose();
    }
  });

  it('rejects bad options', () => {
    expect(() => tokenBridge({ bits: 0, channels: 4 })).toThrow('tokenBridge: bits must be an integer ≥ 1, got 0');
    expect(() => tokenBridge({ bits: 2, channels: 4, scale: -1 })).toThrow(QuantizerError);
    expect(() => tokenBridge({ bits: 2, channels: 4, assign: 'round' as never })).toThrow("assign must be 'nearest' or 'bin'");
  });
});
