import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { isGqError, type LatentLayout, type Quantizer } from '@gq/core';
import { seededNormal, setupBackend, tensorGrowth } from '@gq/test-utils';
import { CodebookError, createCodebook, gq, gqQuantize, type GqStats } from '@gq/codebook';
import { acceptable, oracleSearch } from './oracle.js';

beforeAll(async () => {
  await setupBackend('cpu');
});

/** On the cpu backend GQ takes the float64 scan: the tolerance of search.test.ts's float64 paths. */
const FLOAT64_TOL = 1e-12;

function randomValues(count: number, seed: number, scale = 1, offset = 0): Float32Array {
  const normal = seededNormal(seed);
  return Float32Array.from({ length: count }, () => offset + scale * normal());
}

/** Channel of token g, dimension d (docs/algorithms.md §3.6), written from the definition. */
const channelOf = (layout: LatentLayout, g: number, d: number, groups: number, dim: number): number =>
  layout === 'strided' ? d * groups + g : g * dim + d;

/** Token g of position p as a plain array, read from a latent through the layout definition. */
function tokenOf(latent: ArrayLike<number>, p: number, g: number, channels: number, dim: number, layout: LatentLayout): number[] {
  const groups = channels / dim;
  return Array.from({ length: dim }, (_, d) => latent[p * channels + channelOf(layout, g, d, groups, dim)]!);
}

describe('gq: GQ as a Quantizer', () => {
  const codebook = createCodebook({ size: 256, dim: 4, seed: 7, method: 'sobol' });
  const shape = [2, 3, 4, 12];
  const count = 2 * 3 * 4 * 12;
  const muValues = randomValues(count, 1);
  const logVarValues = randomValues(count, 2, 0.7, -1.2);

  it('describes its geometry: G = C / m slots of K codes, G·log2 K bits per position', () => {
    const quantizer = gq({ codebook, channels: 12 });
    expect(quantizer).toMatchObject({ kind: 'gq', channels: 12, tokensPerPosition: 3, codebookSize: 256, dim: 4, beta: 1, layout: 'strided' });
    expect(quantizer.bitsPerPosition).toBe(24);
    const generic: Quantizer<GqStats> = quantizer;
    expect(generic.kind).toBe('gq');
  });

  it('picks the float64 oracle codeword per token and zq holds those codewords in the layout', async () => {
    const mu = tf.tensor(muValues, shape);
    const logVar = tf.tensor(logVarValues, shape);
    for (const layout of ['strided', 'contiguous'] as const) {
      for (const withLogVar of [true, false]) {
        const quantizer = gq({ codebook, channels: 12, beta: 0.5, layout });
        const result = await quantizer.quantize(mu, withLogVar ? { logVar } : {});
        expect(result.indices.shape).toEqual([2, 3, 4, 3]);
        expect(result.indices.dtype).toBe('int32');
        expect(result.zq.shape).toEqual(shape);
        const indices = await result.indices.data();
        const zq = await result.zq.data();
        expect(await result.auxLoss.data()).toEqual(new Float32Array([0]));
        for (let p = 0; p < count / 12; p++) {
          for (let g = 0; g < 3; g++) {
            const index = indices[p * 3 + g]!;
            const token = tokenOf(muValues, p, g, 12, 4, layout);
            const tokenLogVar = withLogVar ? tokenOf(logVarValues, p, g, 12, 4, layout) : null;
            const oracle = oracleSearch(token, tokenLogVar, 0, codebook.values, 256, 4, 0.5);
            expect(acceptable(oracle, index, FLOAT64_TOL)).toBe(true);
            expect(tokenOf(zq, p, g, 12, 4, layout)).toEqual(Array.from(codebook.values.subarray(index * 4, index * 4 + 4)));
          }
        }
        tf.dispose([result.zq, result.indices, result.auxLoss]);
        result.stats.dispose();
      }
    }
    tf.dispose([mu, logVar]);
  });

  it('returns exactly gqQuantize’s indices and zq; dequantize(indices) gives zq back', async () => {
    const mu = tf.tensor(muValues, shape);
    const logVar = tf.tensor(logVarValues, shape);
    for (const layout of ['strided', 'contiguous'] as const) {
      const quantizer = gq({ codebook, channels: 12, beta: 1.5, layout });
      const result = await quantizer.quantize(mu, { logVar });
      const direct = await gqQuantize(mu, logVar, codebook, { beta: 1.5, layout });
      expect(Array.from(await result.indices.data())).toEqual(Array.from(await direct.indices.data()));
      expect(Array.from(await result.zq.data())).toEqual(Array.from(await direct.zq.data()));
      const back = await quantizer.dequantize(result.indices);
      expect(back.shape).toEqual(shape);
      expect(Array.from(await back.data())).toEqual(Array.from(await result.zq.data()));
      tf.dispose([result.zq, result.indices, result.auxLoss, direct.indices, direct.zq, back]);
      result.stats.dispose();
    }
    tf.dispose([mu, logVar]);
  });

  it('reports codebook usage of the call’s indices and leaves the indices alive after reading', async () => {
    const mu = tf.tensor(muValues, shape);
    const result = await gq({ codebook, channels: 12 }).quantize(mu);
    const stats = await result.stats.read();
    const indices = Array.from(await result.indices.data());
    const counts = new Map<number, number>();
    for (const index of indices) counts.set(index, (counts.get(index) ?? 0) + 1);
    let entropy = 0;
    for (const c of counts.values()) entropy -= (c / indices.length) * Math.log2(c / indices.length);
    expect(stats.total).toBe(indices.length);
    expect(stats.used).toBe(counts.size);
    expect(stats.usedFraction).toBe(counts.size / 256);
    expect(stats.entropyBits).toBeCloseTo(entropy, 12);
    expect(result.stats.isDisposed).toBe(true);
    tf.dispose([mu, result.zq, result.indices, result.auxLoss]);
  });

  it('rejects bad options and input with CodebookError (a GqError)', async () => {
    const mu = tf.tensor(muValues, shape);
    const wrongChannels = tf.zeros([2, 8]);
    const caught = (run: () => unknown): unknown => {
      try {
        return run();
      } catch (error) {
        return error;
      }
    };
    const training = await gq({ codebook, channels: 12 })
      .quantize(mu, { training: true })
      .catch((error: unknown) => error);
    expect(training).toBeInstanceOf(CodebookError);
    expect(isGqError(training)).toBe(true);
    expect(training).toMatchObject({ code: 'bad-option', source: '@gq/codebook' });
    expect((training as Error).message).toMatch(/^gq\.quantize: training must be false: GQ .* no training mode/);

    expect(caught(() => gq({ codebook, channels: 10 }))).toMatchObject({
      name: 'CodebookError',
      code: 'bad-option',
      message: "gq: channels must be a positive multiple of the codebook's dim=4, got 10",
    });
    expect(caught(() => gq({ codebook: {} as never, channels: 12 }))).toMatchObject({ code: 'bad-option' });
    expect(caught(() => gq({ codebook, channels: 12, beta: Number.NaN }))).toMatchObject({ code: 'bad-beta' });
    expect(caught(() => gq({ codebook, channels: 12, layout: 'rows' as never }))).toMatchObject({ code: 'bad-layout' });

    const quantizer = gq({ codebook, channels: 12 });
    await expect(quantizer.quantize(wrongChannels)).rejects.toThrow('gq.quantize: mu must have rank ≥ 2 and last dimension C=12, got shape [2,8]');
    await expect(quantizer.quantize(mu, { logVar: tf.zeros([2, 3, 4, 8]) })).rejects.toThrow(expect.objectContaining({ code: 'shape-mismatch' }));
    await expect(quantizer.quantize('mu' as never)).rejects.toThrow(expect.objectContaining({ code: 'bad-tensor' }));
    await expect(quantizer.dequantize(tf.zeros([2, 4], 'int32'))).rejects.toThrow('gq.dequantize: indices must have last dimension G=3, got shape [2,4]');
    await expect(quantizer.dequantize(tf.tensor2d([[0, 1, 256]], [1, 3], 'int32'))).rejects.toThrow(expect.objectContaining({ code: 'index-out-of-range' }));
    await expect(quantizer.dequantize(tf.zeros([1, 3]))).rejects.toThrow(expect.objectContaining({ code: 'bad-dtype' }));
    tf.dispose([mu, wrongChannels]);
  });

  it('leaks no tensors on success or failure; dispose releases the cached codebook tensors', async () => {
    const mu = tf.tensor(muValues, shape);
    const logVar = tf.tensor(logVarValues, shape);
    const quantizer = gq({ codebook, channels: 12, path: 'tfjs' });
    // Warm the per-codebook device cache so the measured block only sees per-call tensors.
    const warm = await quantizer.quantize(mu, { logVar });
    tf.dispose([warm.zq, warm.indices, warm.auxLoss]);
    warm.stats.dispose();
    const nan = tf.fill(shape, Number.NaN);
    const growth = await tensorGrowth(async () => {
      for (const read of [true, false]) {
        const result = await quantizer.quantize(mu, { logVar });
        const back = await quantizer.dequantize(result.indices);
        if (read) await result.stats.read();
        else result.stats.dispose();
        tf.dispose([result.zq, result.indices, result.auxLoss, back]);
      }
      await expect(quantizer.quantize(mu, { training: true })).rejects.toThrow(CodebookError);
      await expect(quantizer.quantize(nan)).rejects.toThrow(expect.objectContaining({ code: 'non-finite' }));
    });
    expect(growth).toBe(0);
    const before = tf.memory().numTensors;
    quantizer.dispose();
    expect(tf.memory().numTensors).toBe(before - 2);
    tf.dispose([mu, logVar, nan]);
  });
});
