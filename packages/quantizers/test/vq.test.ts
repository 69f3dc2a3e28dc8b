import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { seededNormal, setupBackend } from '@gq/test-utils';
import { QuantizerError, vq } from '@gq/quantizers';

const K = 16;
const M = 4;
const C = 8; // G = 2 tokens per position, strided: token g, dim d in channel d·2 + g

function codebookValues(seed: number): Float32Array {
  const normal = seededNormal(seed);
  return Float32Array.from({ length: K * M }, () => normal());
}

/** float64 oracle: strided tokens of a flat [P, C] latent. */
function tokensOf(z: Float32Array): number[][] {
  const G = C / M;
  const out: number[][] = [];
  for (let p = 0; p < z.length / C; p++) {
    for (let g = 0; g < G; g++) out.push(Array.from({ length: M }, (_, d) => z[p * C + d * G + g]!));
  }
  return out;
}

const sqDist = (a: number[], b: ArrayLike<number>): number => a.reduce((s, v, d) => s + (v - b[d]!) ** 2, 0);
const row = (cb: Float32Array, j: number): Float32Array => cb.subarray(j * M, (j + 1) * M);

describe('vq', () => {
  beforeAll(async () => {
    await setupBackend('cpu');
  });

  it('initialises uniformly in (−1/K, 1/K), deterministically by seed', async () => {
    const a = vq({ codebookSize: K, dim: M, channels: C, seed: 3 });
    const b = vq({ codebookSize: K, dim: M, channels: C, seed: 3 });
    const values = await a.codebook.data();
    expect(values).toEqual(await b.codebook.data());
    for (const v of values) expect(Math.abs(v)).toBeLessThan(1 / K);
    expect(a.bitsPerPosition).toBe(8);
    a.dispose();
    b.dispose();
  });

  it('selects the L2-nearest codeword (float64 brute force), with straight-through output and reference loss weights', async () => {
    const codebook = codebookValues(1);
    const q = vq({ codebookSize: K, dim: M, channels: C, seed: 0, initialCodebook: codebook });
    const normal = seededNormal(2);
    const latent = Float32Array.from({ length: 2 * 3 * C }, () => normal());
    const z = tf.tensor3d(latent, [2, 3, C]);
    const { zq, indices, auxLoss, stats } = q.quantize(z, { training: true });
    expect(indices.shape).toEqual([2, 3, 2]);
    const [idx, out, aux] = await Promise.all([indices.data(), zq.data(), auxLoss.data()]);
    const tokens = tokensOf(latent);
    let mse = 0;
    tokens.forEach((t, u) => {
      const distances = Array.from({ length: K }, (_, j) => sqDist(t, row(codebook, j)));
      const best = distances.indexOf(Math.min(...distances));
      const sorted = [...distances].sort((a, b) => a - b);
      if (sorted[1]! - sorted[0]! > 1e-4) expect(idx[u]).toBe(best);
      mse += distances[idx[u]!]! / (tokens.length * M);
    });
    // zq places codeword rows back in the strided layout, exactly.
    const G = C / M;
    for (let p = 0; p < 6; p++) {
      for (let g = 0; g < G; g++) {
        for (let d = 0; d < M; d++) expect(out[p * C + d * G + g]).toBe(codebook[idx[p * G + g]! * M + d]);
      }
    }
    const read = await stats.read();
    expect(read.commitment).toBeCloseTo(mse, 5);
    expect(read.codebookLoss).toBeCloseTo(mse, 5);
    expect(aux[0]).toBeCloseTo(1.0 * mse + 0.25 * mse, 5);
    const counts = new Array<number>(K).fill(0);
    for (const i of idx) counts[i]!++;
    expect(read.counts).toEqual(counts);
    const H = -counts.filter((c) => c > 0).reduce((s, c) => s + (c / 12) * Math.log2(c / 12), 0);
    expect(read.perplexity).toBeCloseTo(2 ** H, 10);
    expect(read.unusedFraction).toBeCloseTo(1 - counts.filter((c) => c > 0).length / K, 12);
    tf.dispose([z, zq, indices, auxLoss]);
    q.dispose();
  });

  it('breaks ties toward the lowest index and round-trips index → code → index', async () => {
    const codebook = codebookValues(4);
    codebook.set(row(codebook, 3), 9 * M); // codeword 9 duplicates codeword 3
    const q = vq({ codebookSize: K, dim: M, channels: C, seed: 0, initialCodebook: codebook });
    const tie = q.dequantize(tf.tensor2d([[9, 9]], [1, 2], 'int32'));
    const tieIndices = q.quantize(tie);
    expect(Array.from(await tieIndices.indices.data())).toEqual([3, 3]);
    const distinct = Array.from({ length: K }, (_, j) => j).filter((j) => j !== 9);
    const all = tf.tensor2d(distinct.map((j) => [j, distinct[(j + 5) % distinct.length]!]), [distinct.length, 2], 'int32');
    const codes = q.dequantize(all);
    const back = q.quantize(codes);
    expect(Array.from(await back.indices.data())).toEqual(Array.from(await all.data()));
    tf.dispose([tie, tieIndices.zq, tieIndices.indices, tieIndices.auxLoss, all, codes, back.zq, back.indices, back.auxLoss]);
    tieIndices.stats.dispose();
    back.stats.dispose();
    q.dispose();
  });

  it('gradients: identity to z through zq; codebook gets 0.25·2(e − z)/(N·m) from the codebook loss', async () => {
    const codebook = codebookValues(5);
    const q = vq({ codebookSize: K, dim: M, channels: M, seed: 0, initialCodebook: codebook });
    const z = tf.tensor2d(Float32Array.from({ length: 3 * M }, (_, i) => Math.sin(i + 1)), [3, M]);
    const weights = tf.tensor2d(Array.from({ length: 3 * M }, (_, i) => i - 3), [3, M]);
    const gz = tf.grad((x: tf.Tensor) => {
      const out = q.quantize(x, { training: true });
      out.stats.dispose();
      return tf.sum(tf.mul(out.zq, weights));
    })(z);
    expect(Array.from(await gz.data())).toEqual(Array.from({ length: 3 * M }, (_, i) => i - 3));

    const inference = q.quantize(z);
    const picked = await inference.indices.data();
    const { grads, value } = tf.variableGrads(() => {
      const out = q.quantize(z, { training: true });
      out.stats.dispose();
      return out.auxLoss;
    }, q.trainableVariables);
    const g = await grads[q.codebook.name]!.data();
    const zValues = await z.data();
    const expected = new Float64Array(K * M);
    for (let u = 0; u < 3; u++) {
      for (let d = 0; d < M; d++) expected[picked[u]! * M + d]! += (0.25 * 2 * (codebook[picked[u]! * M + d]! - zValues[u * M + d]!)) / (3 * M);
    }
    for (let i = 0; i < K * M; i++) expect(g[i]).toBeCloseTo(expected[i]!, 6);
    tf.dispose([z, weights, gz, value, ...Object.values(grads), inference.zq, inference.indices, inference.auxLoss]);
    inference.stats.dispose();
    q.dispose();
  });

  it('EMA: one training call moves the codebook to the smoothed running mean (decay 0.99, ε = 1e-5)', async () => {
    const codebook = codebookValues(7);
    const q = vq({ codebookSize: K, dim: M, channels: M, seed: 0, initialCodebook: codebook, ema: true });
    expect(q.trainableVariables).toEqual([]);
    const zValues = Float32Array.from({ length: 5 * M }, (_, i) => Math.cos(i));
    const z = tf.tensor2d(zValues, [5, M]);
    const out = q.quantize(z, { training: true });
    const idx = await out.indices.data();
    expect((await out.auxLoss.data())[0]).toBeCloseTo((await out.stats.read()).commitment, 6);
    const cluster = new Float64Array(K).fill(0.99);
    const sums = Float64Array.from(codebook, (v) => 0.99 * v);
    idx.forEach((j, u) => {
      cluster[j]! += 0.01;
      for (let d = 0; d < M; d++) sums[j * M + d]! += 0.01 * zValues[u * M + d]!;
    });
    const total = cluster.reduce((a, b) => a + b, 0);
    const updated = await q.codebook.data();
    for (let j = 0; j < K; j++) {
      const smoothed = ((cluster[j]! + 1e-5) / (total + K * 1e-5)) * total;
      for (let d = 0; d < M; d++) expect(updated[j * M + d]).toBeCloseTo(sums[j * M + d]! / smoothed, 5);
    }
    tf.dispose([z, out.zq, out.indices, out.auxLoss]);
    q.dispose();
  });

  it('l2norm selects by cosine similarity and outputs unit-length codewords', async () => {
    const codebook = codebookValues(8);
    const q = vq({ codebookSize: K, dim: M, channels: M, seed: 0, initialCodebook: codebook, l2norm: true });
    const zValues = Float32Array.from({ length: 4 * M }, (_, i) => Math.sin(3 * i) * (i + 1));
    const z = tf.tensor2d(zValues, [4, M]);
    const out = q.quantize(z);
    const [idx, zq] = await Promise.all([out.indices.data(), out.zq.data()]);
    for (let u = 0; u < 4; u++) {
      const t = Array.from(zValues.subarray(u * M, (u + 1) * M));
      const cos = Array.from({ length: K }, (_, j) => {
        const e = row(codebook, j);
        return t.reduce((s, v, d) => s + v * e[d]!, 0) / Math.hypot(...e);
      });
      expect(idx[u]).toBe(cos.indexOf(Math.max(...cos)));
      expect(Math.hypot(...zq.subarray(u * M, (u + 1) * M))).toBeCloseTo(1, 6);
    }
    tf.dispose([z, out.zq, out.indices, out.auxLoss]);
    out.stats.dispose();
    q.dispose();
  });

  it('dead-code restart replaces codes unused in the window with current tokens', async () => {
    const codebook = new Float32Array(K * M).fill(100);
    codebook.set([0, 0, 0, 0], 0); // only code 0 is ever nearest to small tokens
    const q = vq({ codebookSize: K, dim: M, channels: M, seed: 11, initialCodebook: codebook, deadCodeRestart: { every: 2 } });
    const zValues = Float32Array.from({ length: 6 * M }, (_, i) => Math.sin(i));
    const z = tf.tensor2d(zValues, [6, M]);
    const first = q.quantize(z, { training: true });
    expect((await first.stats.read()).restartedCodes).toBe(0);
    const second = q.quantize(z, { training: true });
    expect((await second.stats.read()).restartedCodes).toBe(K - 1);
    const updated = (await q.codebook.data()) as Float32Array;
    const tokens = Array.from({ length: 6 }, (_, u) => Array.from(zValues.subarray(u * M, (u + 1) * M)));
    for (let j = 1; j < K; j++) expect(tokens.some((t) => sqDist(t, row(updated, j)) === 0)).toBe(true);
    expect(Array.from(row(updated, 0))).toEqual([0, 0, 0, 0]);
    tf.dispose([z, first.zq, first.indices, first.auxLoss, second.zq, second.indices, second.auxLoss]);
    q.dispose();
  });

  it('K = 32768: chunked search (512 rows per chunk) and chunked codebook gradient match brute force', async () => {
    const size = 32768;
    const dim = 2;
    const normal = seededNormal(12);
    const codebook = Float32Array.from({ length: size * dim }, () => normal());
    const q = vq({ codebookSize: size, dim, channels: dim, seed: 0, initialCodebook: codebook });
    const rows = 520;
    const zValues = Float32Array.from({ length: rows * dim }, () => normal());
    const z = tf.tensor2d(zValues, [rows, dim]);
    const { grads, value } = tf.variableGrads(() => {
      const out = q.quantize(z, { training: true });
      out.stats.dispose();
      tf.dispose([out.zq, out.indices]);
      return out.auxLoss;
    }, q.trainableVariables);
    const inference = q.quantize(z);
    const idx = await inference.indices.data();
    const expected = new Map<number, number[]>();
    for (let u = 0; u < rows; u++) {
      let best = -1;
      let bestDistance = Infinity;
      let second = Infinity;
      for (let j = 0; j < size; j++) {
        const distance = (zValues[u * dim]! - codebook[j * dim]!) ** 2 + (zValues[u * dim + 1]! - codebook[j * dim + 1]!) ** 2;
        if (distance < bestDistance) {
          second = bestDistance;
          bestDistance = distance;
          best = j;
        } else if (distance < second) second = distance;
      }
      if (second - bestDistance > 1e-5) expect(idx[u]).toBe(best);
      const j = idx[u]!;
      const g = expected.get(j) ?? [0, 0];
      for (let d = 0; d < dim; d++) g[d]! += (0.25 * 2 * (codebook[j * dim + d]! - zValues[u * dim + d]!)) / (rows * dim);
      expected.set(j, g);
    }
    const g = await grads[q.codebook.name]!.data();
    for (const [j, want] of expected) for (let d = 0; d < dim; d++) expect(g[j * dim + d]).toBeCloseTo(want[d]!, 7);
    tf.dispose([z, value, ...Object.values(grads), inference.zq, inference.indices, inference.auxLoss]);
    inference.stats.dispose();
    q.dispose();
  });

  it('rejects bad configuration and bad tensors', () => {
    expect(() => vq({ codebookSize: 16, dim: 3, channels: 8, seed: 0 })).toThrow('vq: channels must be divisible by dim=3, got 8');
    expect(() => vq({ codebookSize: 1, dim: 4, channels: 8, seed: 0 })).toThrow(QuantizerError);
    expect(() => vq({ codebookSize: 16, dim: 4, channels: 8, seed: 0.5 })).toThrow('seed must be an integer');
    const q = vq({ codebookSize: 16, dim: 4, channels: 8, seed: 0 });
    const floats = tf.zeros([1, 2]);
    expect(() => q.dequantize(floats)).toThrow('vq.dequantize: indices must be int32, got float32');
    expect(() => q.quantize(floats)).toThrow('vq.quantize: z must have rank ≥ 2 and last dimension 8, got shape [1,2]');
    floats.dispose();
    q.dispose();
  });
});
