import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { seededNormal, setupBackend } from '@gq/test-utils';
import { bsq, lfq, QuantizerError } from '@gq/quantizers';

const sigmoid = (a: number): number => 1 / (1 + Math.exp(-a));
const entropy = (p: number[]): number => -p.reduce((s, v) => s + (v > 0 ? v * Math.log(v) : 0), 0);

/** float64 LFQ entropy terms by explicit enumeration of the 2^D codes (softmax of 2⟨x, c⟩/τ). */
function lfqEntropyOracle(subTokens: number[][], tau: number): { sample: number; batch: number } {
  const D = subTokens[0]!.length;
  const codes = Array.from({ length: 2 ** D }, (_, c) => Array.from({ length: D }, (_, d) => ((c >> (D - 1 - d)) & 1 ? 1 : -1)));
  const mean = new Array<number>(codes.length).fill(0);
  let sample = 0;
  for (const x of subTokens) {
    const logits = codes.map((c) => (2 * c.reduce((s, cd, d) => s + cd * x[d]!, 0)) / tau);
    const top = Math.max(...logits);
    const e = logits.map((l) => Math.exp(l - top));
    const total = e.reduce((a, b) => a + b, 0);
    const p = e.map((v) => v / total);
    sample += entropy(p);
    p.forEach((v, i) => (mean[i]! += v / subTokens.length));
  }
  return { sample: sample / subTokens.length, batch: -mean.reduce((s, v) => s + v * Math.log(v + 1e-5), 0) };
}

describe('lfq', () => {
  beforeAll(async () => {
    await setupBackend('cpu');
  });

  it('signs (0 → −1), packs MSB-first per sub-codebook; the joint index equals the packed integer', async () => {
    const z = tf.tensor2d([[0.3, -0.1, 0, 2]]);
    const one = lfq({ channels: 4, subCodebooks: 1 });
    const two = lfq({ channels: 4, subCodebooks: 2 });
    const a = one.quantize(z);
    const b = two.quantize(z);
    expect(Array.from(await a.zq.data())).toEqual([1, -1, -1, 1]);
    expect(Array.from(await a.indices.data())).toEqual([0b1001]);
    const sub = Array.from(await b.indices.data());
    expect(sub).toEqual([0b10, 0b01]);
    expect(sub[0]! * 4 + sub[1]!).toBe(0b1001);
    expect(lfq({ channels: 16 }).subCodebooks).toBe(2);
    tf.dispose([z, a.zq, a.indices, a.auxLoss, b.zq, b.indices, b.auxLoss]);
    a.stats.dispose();
    b.stats.dispose();
  });

  it('round-trips every index and has 2^C distinct codes', async () => {
    const q = lfq({ channels: 6, subCodebooks: 2 });
    const all = tf.tensor2d(Array.from({ length: 64 }, (_, i) => [i >> 3, i & 7]), [64, 2], 'int32');
    const codes = q.dequantize(all);
    const values = await codes.data();
    expect(q.bitsPerPosition).toBe(6);
    expect(new Set(Array.from({ length: 64 }, (_, i) => Array.from(values.slice(i * 6, i * 6 + 6)).join())).size).toBe(2 ** 6);
    const { zq, indices, stats } = q.quantize(codes);
    expect(Array.from(await indices.data())).toEqual(Array.from(await all.data()));
    expect(Array.from(await zq.data())).toEqual(Array.from(values));
    tf.dispose([all, codes, zq, indices]);
    stats.dispose();
  });

  it('entropy loss and commitment match an explicit 2^D enumeration; STE gradient of zq is the identity', async () => {
    const tau = 0.7;
    const q = lfq({ channels: 4, subCodebooks: 2, temperature: tau });
    const values = [0.2, -0.4, 0.9, 0.1, -0.3, -0.05, 0.5, -1.2];
    const z = tf.tensor2d(values, [2, 4]);
    const { zq, auxLoss, stats, indices } = q.quantize(z, { training: true });
    const read = await stats.read();
    const subTokens = [0, 1, 2, 3].map((k) => values.slice(2 * k, 2 * k + 2));
    const oracle = lfqEntropyOracle(subTokens, tau);
    const commitment = values.reduce((s, v) => s + (v - (v > 0 ? 1 : -1)) ** 2, 0) / values.length;
    // float32 softmax/log over ≤ 4 terms: ~1e-6 relative.
    expect(read.entropySample).toBeCloseTo(oracle.sample, 5);
    expect(read.entropyBatch).toBeCloseTo(oracle.batch, 5);
    expect(read.commitment).toBeCloseTo(commitment, 6);
    expect((await auxLoss.data())[0]).toBeCloseTo(0.1 * (oracle.sample - oracle.batch) + 0.025 * commitment, 5);
    const weights = tf.tensor2d([1, 2, 3, 4, 5, 6, 7, 8], [2, 4]);
    const grad = tf.grad((x: tf.Tensor) => {
      const out = q.quantize(x, { training: true });
      out.stats.dispose();
      return tf.sum(tf.mul(out.zq, weights));
    })(z);
    expect(Array.from(await grad.data())).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    tf.dispose([z, zq, auxLoss, indices, weights, grad]);
  });

  it('the per-bit factorisation of H_sample equals the softmax entropy at the default τ = 0.01', async () => {
    const normal = seededNormal(9);
    const values = Array.from({ length: 6 * 3 }, () => 0.02 * normal());
    const q = lfq({ channels: 3, subCodebooks: 1 });
    const z = tf.tensor2d(values, [6, 3]);
    const { stats, zq, indices, auxLoss } = q.quantize(z, { training: true });
    const read = await stats.read();
    const oracle = lfqEntropyOracle([0, 1, 2, 3, 4, 5].map((k) => values.slice(3 * k, 3 * k + 3)), 0.01);
    expect(read.entropySample).toBeCloseTo(oracle.sample, 4);
    expect(read.entropyBatch).toBeCloseTo(oracle.batch, 4);
    tf.dispose([z, zq, indices, auxLoss]);
  });

  it('rejects sub-codebook counts that do not divide the channels', () => {
    expect(() => lfq({ channels: 10, subCodebooks: 3 })).toThrow('lfq: subCodebooks must divide channels=10, got 3');
    expect(() => lfq({ channels: 0 })).toThrow(QuantizerError);
    expect(() => lfq({ channels: 4, temperature: 0 })).toThrow('temperature must be a finite number > 0');
  });
});

describe('bsq', () => {
  beforeAll(async () => {
    await setupBackend('cpu');
  });

  it('projects to the sphere, takes signs, scales by 1/√C and packs MSB-first', async () => {
    const q = bsq({ channels: 2 });
    const z = tf.tensor2d([[3, -4], [0, 0]]);
    const { zq, indices, stats } = q.quantize(z);
    const s = Math.fround(1 / Math.sqrt(2));
    expect(Array.from(await zq.data())).toEqual([s, -s, -s, -s]);
    expect(Array.from(await indices.data())).toEqual([0b10, 0b00]);
    // C = 16: codes are ±1/4 exactly.
    const sixteen = bsq({ channels: 16 }).dequantize(tf.tensor2d([[0x8001]], [1, 1], 'int32'));
    expect(Array.from(await sixteen.data())).toEqual([0.25, ...Array(14).fill(-0.25), 0.25]);
    tf.dispose([z, zq, indices, sixteen]);
    stats.dispose();
  });

  it('round-trips every index with 2^C distinct codes; C = 40 uses 16+16+8-bit slots', async () => {
    const q = bsq({ channels: 5 });
    const all = tf.tensor2d(Array.from({ length: 32 }, (_, i) => [i]), [32, 1], 'int32');
    const codes = q.dequantize(all);
    const values = await codes.data();
    expect(new Set(Array.from({ length: 32 }, (_, i) => Array.from(values.slice(i * 5, i * 5 + 5)).join())).size).toBe(32);
    const back = q.quantize(codes);
    expect(Array.from(await back.indices.data())).toEqual(Array.from({ length: 32 }, (_, i) => i));
    const wide = bsq({ channels: 40 });
    expect(wide.slotBits).toEqual([16, 16, 8]);
    expect(wide.bitsPerPosition).toBe(40);
    const sample = tf.tensor2d([[65535, 0, 255], [4660, 43981, 129]], [2, 3], 'int32');
    const wideCodes = wide.dequantize(sample);
    const wideBack = wide.quantize(wideCodes);
    expect(Array.from(await wideBack.indices.data())).toEqual([65535, 0, 255, 4660, 43981, 129]);
    tf.dispose([all, codes, back.zq, back.indices, sample, wideCodes, wideBack.zq, wideBack.indices]);
    back.stats.dispose();
    wideBack.stats.dispose();
  });

  it('entropy terms match a hand computation and the gradient is straight-through on u = z/‖z‖', async () => {
    const tau = 0.5;
    const q = bsq({ channels: 2, temperature: tau });
    const rows = [[0.6, -0.8], [1, 1], [-2, 0.5]];
    const z = tf.tensor2d(rows);
    const { auxLoss, stats, zq, indices } = q.quantize(z, { training: true });
    const read = await stats.read();
    const ps: number[] = [];
    let sample = 0;
    for (const row of rows) {
      const norm = Math.hypot(...row);
      for (const v of row) {
        const p = sigmoid((-4 * (v / norm)) / (Math.sqrt(2) * tau));
        ps.push(p);
        sample += entropy([p, 1 - p]);
      }
    }
    sample /= ps.length;
    const pBar = ps.reduce((a, b) => a + b, 0) / ps.length;
    const batch = -(pBar * Math.log(pBar + 1e-5) + (1 - pBar) * Math.log(1 - pBar + 1e-5));
    expect(read.entropySample).toBeCloseTo(sample, 5);
    expect(read.entropyBatch).toBeCloseTo(batch, 5);
    expect((await auxLoss.data())[0]).toBeCloseTo(0.1 * (sample - batch), 6);

    // d/dz Σ w·zq = (1/√C)·J_uᵀ w with J_u = (I − u uᵀ)/‖z‖ (the projection's Jacobian).
    const w = [0.7, -1.3];
    const wT = tf.tensor1d(w);
    const grad = tf.grad((x: tf.Tensor) => {
      const out = q.quantize(x, { training: true });
      out.stats.dispose();
      return tf.sum(tf.mul(out.zq, wT));
    })(z);
    const g = await grad.data();
    rows.forEach((row, r) => {
      const norm = Math.hypot(...row);
      const u = row.map((v) => v / norm);
      const uw = u[0]! * w[0]! + u[1]! * w[1]!;
      for (let d = 0; d < 2; d++) expect(g[r * 2 + d]).toBeCloseTo((w[d]! - u[d]! * uw) / norm / Math.sqrt(2), 6);
    });
    tf.dispose([z, auxLoss, zq, indices, wT, grad]);
  });
});
