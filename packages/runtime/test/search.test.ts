import { afterAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { createCodebook, gqSearch, gqSearchCpu, type CodebookSpec } from '@gq/codebook';
import { useBackend } from '@gq/runtime';
import { ParallelSearch } from '@gq/runtime/parallel';
import { seededNormal } from '@gq/test-utils';

const spec: CodebookSpec = { size: 256, dim: 4, seed: 3 };
/** 101 rows: an uneven split over 2 and 3 threads. */
const rows = 101;
const normal = seededNormal(21);
const mu = Float32Array.from({ length: rows * spec.dim }, normal);
const logVar = Float32Array.from({ length: rows * spec.dim }, () => 0.5 * normal() - 1);

describe('ParallelSearch', () => {
  const open: ParallelSearch[] = [];
  afterAll(async () => {
    await Promise.all(open.map((search) => search.close()));
  });

  it('cpu engine: threads give the indices of one gqSearchCpu call over all rows', async () => {
    const codebook = createCodebook(spec);
    for (const threads of [2, 3]) {
      const search = await ParallelSearch.create(spec, { threads });
      open.push(search);
      expect(search.threads).toBe(threads);
      for (const beta of [1, 0.25]) {
        expect(await search.search(mu, logVar, { beta })).toEqual(gqSearchCpu(mu, logVar, codebook, { beta }));
      }
      expect(await search.search(mu, null, { rule: 'nearest' })).toEqual(gqSearchCpu(mu, null, codebook, { rule: 'nearest' }));
    }
  });

  it('tfjs engine: threads on their own wasm backends give the indices of gqSearch on wasm', async () => {
    const search = await ParallelSearch.create(spec, { threads: 2, engine: 'tfjs', backend: 'wasm' });
    open.push(search);
    await useBackend('wasm');
    const codebook = createCodebook(spec);
    const muTensor = tf.tensor2d(mu, [rows, spec.dim]);
    const logVarTensor = tf.tensor2d(logVar, [rows, spec.dim]);
    const indices = await gqSearch(muTensor, logVarTensor, codebook);
    const expected = (await indices.data()) as Int32Array;
    tf.dispose([muTensor, logVarTensor, indices]);
    expect(await search.search(mu, logVar)).toEqual(expected);
  });

  it('rejects inputs that are not N·dim values, and a bad spec with the codebook error', async () => {
    const search = await ParallelSearch.create(spec, { threads: 2 });
    open.push(search);
    await expect(search.search(mu.subarray(0, 6), null)).rejects.toThrow(/mu must hold N·dim values with N ≥ 1 and dim=4, got length 6/);
    await expect(search.search(mu, logVar.subarray(0, 8))).rejects.toThrow(/logVar must have mu's length 404, got 8/);
    const error = await ParallelSearch.create({ size: 256, dim: 4, seed: -1 }, { threads: 1 }).catch((e: unknown) => e);
    expect((error as { code: string }).code).toBe('bad-seed');
    expect((error as Error).message).toMatch(/ParallelSearch worker failed to start \(worker 0\): createCodebook: seed must be an integer/);
  });
});
