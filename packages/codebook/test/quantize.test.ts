import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { seededNormal, setupBackend, tensorGrowth } from '@gq/test-utils';
import { latentRowsToTokens } from '@gq/core';
import { CodebookError, createCodebook, dequantize, dequantizeRows, gqQuantize, gqSearchCpu, releaseCodebookTensors } from '@gq/codebook';

beforeAll(async () => {
  await setupBackend('cpu');
});

function randomLatent(shape: number[], seed: number, scale = 1, offset = 0): tf.Tensor {
  const normal = seededNormal(seed);
  const size = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(Float32Array.from({ length: size }, () => offset + scale * normal()), shape);
}

describe('gqQuantize', () => {
  const codebook = createCodebook({ size: 1024, dim: 4, seed: 11, method: 'sobol' });

  it('tfjs and cpu paths agree with gqSearchCpu on token rows, for both layouts and ranks', async () => {
    for (const shape of [
      [2, 3, 5, 8],
      [3, 7, 12],
    ]) {
      const mu = randomLatent(shape, 1);
      const logVar = randomLatent(shape, 2, 0.8, -1.5);
      for (const layout of ['strided', 'contiguous'] as const) {
        const tokensMu = latentRowsToTokens((await mu.data()) as Float32Array, shape.at(-1)!, { dim: 4, layout });
        const tokensLogVar = latentRowsToTokens((await logVar.data()) as Float32Array, shape.at(-1)!, { dim: 4, layout });
        const expected = gqSearchCpu(tokensMu, tokensLogVar, codebook, { beta: 0.5 });
        for (const path of ['cpu', 'tfjs'] as const) {
          const { indices, zq } = await gqQuantize(mu, logVar, codebook, { beta: 0.5, layout, path });
          expect(indices.shape).toEqual([...shape.slice(0, -1), shape.at(-1)! / 4]);
          expect(zq.shape).toEqual(shape);
          expect(Array.from(await indices.data())).toEqual(Array.from(expected));
          const zqTokens = latentRowsToTokens((await zq.data()) as Float32Array, shape.at(-1)!, { dim: 4, layout });
          expect(Array.from(zqTokens)).toEqual(Array.from(dequantizeRows(expected, codebook)));
          tf.dispose([indices, zq]);
        }
      }
      tf.dispose([mu, logVar]);
    }
  });

  it("round trip: quantising dequantize(I) with the 'nearest' rule returns I", async () => {
    const normal = seededNormal(5);
    const indices = tf.tensor4d(Int32Array.from({ length: 2 * 4 * 4 * 3 }, () => Math.floor(Math.abs(normal() * 300)) % 1024), [2, 4, 4, 3], 'int32');
    for (const layout of ['strided', 'contiguous'] as const) {
      const latent = await dequantize(indices, codebook, { layout });
      expect(latent.shape).toEqual([2, 4, 4, 12]);
      for (const path of ['cpu', 'tfjs'] as const) {
        const { indices: again, zq } = await gqQuantize(latent, null, codebook, { rule: 'nearest', layout, path });
        expect(Array.from(await again.data())).toEqual(Array.from(await indices.data()));
        expect(Array.from(await zq.data())).toEqual(Array.from(await latent.data()));
        tf.dispose([again, zq]);
      }
      latent.dispose();
    }
    indices.dispose();
  });

  it('rejects bad input with CodebookError', async () => {
    const mu = tf.zeros([1, 2, 2, 8]);
    const bad = tf.zeros([1, 2, 2, 10]);
    const nan = tf.tensor4d([0, 0, 0, 0, 0, 0, Number.NaN, 0], [1, 1, 2, 4]);
    const empty = tf.zeros([0, 2, 2, 8]);
    const ints = tf.zeros([1, 2, 2, 8], 'int32');
    await expect(gqQuantize(bad, null, codebook)).rejects.toThrow(
      'gqQuantize: mu must have last dimension divisible by dim=4, got shape [1,2,2,10]',
    );
    await expect(gqQuantize(mu, bad, codebook)).rejects.toThrow(expect.objectContaining({ code: 'shape-mismatch' }));
    await expect(gqQuantize(empty, null, codebook)).rejects.toThrow(expect.objectContaining({ code: 'empty' }));
    await expect(gqQuantize(ints, null, codebook)).rejects.toThrow(expect.objectContaining({ code: 'bad-dtype' }));
    for (const path of ['cpu', 'tfjs'] as const) {
      await expect(gqQuantize(nan, null, codebook, { path })).rejects.toThrow(/mu must be finite, got 1 .* at \[0, 0, 1, 2\]/);
      await expect(gqQuantize(tf.zeros([1, 1, 2, 4]), nan, codebook, { path })).rejects.toThrow(/logVar must be finite/);
    }
    await expect(gqQuantize(mu, null, codebook, { path: 'gpu' as never })).rejects.toThrow(expect.objectContaining({ code: 'bad-path' }));
    await expect(gqQuantize(tf.zeros([8]), null, codebook)).rejects.toThrow(expect.objectContaining({ code: 'bad-rank' }));
    // Layouts live in @gq/core; gqQuantize validates the option itself, so the error stays a CodebookError.
    await expect(gqQuantize(mu, null, codebook, { layout: 'rows' as never })).rejects.toThrow(CodebookError);
    await expect(gqQuantize(mu, null, codebook, { layout: 'rows' as never })).rejects.toThrow(
      `gqQuantize: layout must be 'strided' or 'contiguous', got "rows"`,
    );
    await expect(dequantize(tf.zeros([1, 2], 'int32'), codebook, { layout: 'rows' as never })).rejects.toThrow(
      expect.objectContaining({ name: 'CodebookError', code: 'bad-layout' }),
    );
    tf.dispose([mu, bad, nan, empty, ints]);
  });

  it('leaks no tensors on either path, on success or failure', async () => {
    const mu = randomLatent([2, 4, 4, 8], 3);
    const logVar = randomLatent([2, 4, 4, 8], 4, 0.5, -1);
    const nan = tf.fill([2, 4, 4, 8], Number.NaN);
    await gqQuantize(mu, logVar, codebook, { path: 'tfjs' }).then((r) => tf.dispose([r.indices, r.zq]));
    const growth = await tensorGrowth(async () => {
      for (const path of ['cpu', 'tfjs'] as const) {
        const { indices, zq } = await gqQuantize(mu, logVar, codebook, { path, memoryBudgetBytes: 1024 * 4 * 5 });
        const back = await dequantize(indices, codebook);
        tf.dispose([indices, zq, back]);
        await expect(gqQuantize(nan, logVar, codebook, { path })).rejects.toThrow(CodebookError);
      }
    });
    expect(growth).toBe(0);
    releaseCodebookTensors(codebook);
    tf.dispose([mu, logVar, nan]);
  });
});

describe('dequantize', () => {
  const codebook = createCodebook({ size: 16, dim: 2, seed: 1, method: 'normal' });
  it('looks up rows in the strided layout', async () => {
    const latent = await dequantize(tf.tensor2d([[3, 15]], [1, 2], 'int32'), codebook);
    const v = codebook.values;
    // channel d·G + g: (c3[0], c15[0], c3[1], c15[1])
    expect(Array.from(await latent.data())).toEqual([v[6], v[30], v[7], v[31]]);
    latent.dispose();
  });
  it('rejects indices ≥ K, negative indices and non-int32 tensors', async () => {
    const big = tf.tensor1d([1, 16], 'int32');
    const negative = tf.tensor1d([-1], 'int32');
    const floats = tf.tensor1d([1]);
    await expect(dequantize(big, codebook)).rejects.toThrow('dequantize: indices must be integers in [0, K=16), got 16 at position 1');
    await expect(dequantize(negative, codebook)).rejects.toThrow(expect.objectContaining({ code: 'index-out-of-range' }));
    await expect(dequantize(floats, codebook)).rejects.toThrow(expect.objectContaining({ code: 'bad-dtype' }));
    expect(() => dequantizeRows([0, 99], codebook)).toThrow(expect.objectContaining({ code: 'index-out-of-range' }));
    tf.dispose([big, negative, floats]);
  });
});
