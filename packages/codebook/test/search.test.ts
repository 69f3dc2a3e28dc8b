import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { setupBackend, tensorGrowth } from '@gq/test-utils';
import { CodebookError, codebookFromValues, createCodebook, gqSearch, gqSearchCpu, releaseCodebookTensors, type Codebook } from '@gq/codebook';
import { acceptable, makeQueries, oracleSearch } from './oracle.js';

beforeAll(async () => {
  await setupBackend('cpu');
});


/** Float32 tolerance of docs/algorithms.md §3.5; float64 paths get 1e-12 (≈ 1e4 ulps of the scale). */
const FLOAT32_TOL = 1e-5;
const FLOAT64_TOL = 1e-12;

const sizes: Record<number, number> = { 1: 65536, 2: 4096, 4: 16384, 8: 65536, 16: 65536, 32: 8192 };
const rowsPerCase = 24;

describe.each([1, 2, 4, 8, 16, 32])('all paths agree with the float64 oracle, m=%i', (dim) => {
  const size = sizes[dim]!;
  const codebook = createCodebook({ size, dim, seed: 1000 + dim, method: dim % 2 === 0 ? 'sobol' : 'normal' });
  it.each([0, 0.5, 1])('beta=%s', async (beta) => {
    const { mu, logVar } = makeQueries(rowsPerCase, dim, 17 * dim + beta * 10);
    const cpu = gqSearchCpu(mu, logVar, codebook, { beta, algorithm: 'exhaustive' });
    const auto = gqSearchCpu(mu, logVar, codebook, { beta });
    const muTensor = tf.tensor2d(mu, [rowsPerCase, dim]);
    const logVarTensor = tf.tensor2d(logVar, [rowsPerCase, dim]);
    // A small budget forces several chunks (3 rows each at K = 2^16).
    const tfIndices = await gqSearch(muTensor, logVarTensor, codebook, { beta, memoryBudgetBytes: size * 4 * 3 });
    const viaTf = await tfIndices.data();
    tf.dispose([muTensor, logVarTensor, tfIndices]);
    let exactCpu = 0;
    let exactTf = 0;
    for (let q = 0; q < rowsPerCase; q++) {
      const oracle = oracleSearch(mu, logVar, q, codebook.values, size, dim, beta);
      expect(acceptable(oracle, cpu[q]!, FLOAT64_TOL)).toBe(true);
      expect(acceptable(oracle, auto[q]!, FLOAT64_TOL)).toBe(true);
      expect(acceptable(oracle, viaTf[q]!, FLOAT32_TOL)).toBe(true);
      if (cpu[q] === oracle.best) exactCpu++;
      if (viaTf[q] === oracle.best) exactTf++;
    }
    // Near-ties are the exception: with continuous inputs nearly every row must match exactly.
    // For m = 1 at K = 2^16 neighbouring codewords are ~1e-4 apart, so float32 scores often cannot
    // separate the top two and only the acceptance check above applies to the tfjs path.
    expect(exactCpu).toBeGreaterThanOrEqual(rowsPerCase - 1);
    if (dim > 1) expect(exactTf).toBeGreaterThanOrEqual(rowsPerCase - 2);
    if (dim === 1) expect(Array.from(auto)).toEqual(Array.from(cpu));
  });
});

describe('m = 1 sorted search (docs/algorithms.md §3.4)', () => {
  it('equals exhaustive float64 search on 5 000 random queries, incl. convex and linear cases', () => {
    const codebook = createCodebook({ size: 1024, dim: 1, seed: 9, method: 'normal' });
    const { mu, logVar } = makeQueries(5000, 1, 4);
    for (let i = 0; i < 200; i++) mu[i] = 0;
    for (let i = 200; i < 400; i++) logVar[i] = 0;
    for (const beta of [0, 0.5, 1, 2]) {
      const sorted = gqSearchCpu(mu, logVar, codebook, { beta, algorithm: 'sorted' });
      const exhaustive = gqSearchCpu(mu, logVar, codebook, { beta, algorithm: 'exhaustive' });
      expect(Array.from(sorted)).toEqual(Array.from(exhaustive));
    }
  });
  it('returns the smallest index among duplicate and tied codewords', () => {
    const codebook = codebookFromValues([0.5, -1, 0.5, 2, -1, 0.5, 3, 2], 8, 1);
    const mu = new Float32Array([0.45, -1.2, 2.1, 0, 10, -10]);
    const nearest = gqSearchCpu(mu, null, codebook, { rule: 'nearest', algorithm: 'sorted' });
    expect(Array.from(nearest)).toEqual([0, 1, 3, 0, 6, 1]);
    // β = 1, σ = 1, μ = 0: every score is 0, so index 0 wins.
    expect(Array.from(gqSearchCpu(new Float32Array([0]), new Float32Array([0]), codebook, { beta: 1 }))).toEqual([0]);
    // β = 1, σ = 2 (convex): the larger |c|² pull wins at the ends; 3 beats −1 for μ = 0.
    expect(Array.from(gqSearchCpu(new Float32Array([0]), new Float32Array([Math.log(4)]), codebook, { beta: 1 }))).toEqual([6]);
  });
});

describe('docs/algorithms.md §3.7 worked example', () => {
  const codebook = createCodebook({ size: 8, dim: 2, seed: 42, method: 'normal' });
  const mu = new Float32Array([-1.3, -1.5]);
  const logVar = new Float32Array([Math.log(0.49), Math.log(0.09)]);
  it('selects j=1 (β=1), j=0 (β=0), j=2 (nearest) on every path', async () => {
    const expected: [Parameters<typeof gqSearchCpu>[3], number][] = [
      [{ beta: 1 }, 1],
      [{ beta: 0 }, 0],
      [{ rule: 'nearest' }, 2],
    ];
    for (const [options, index] of expected) {
      expect(gqSearchCpu(mu, logVar, codebook, options)[0]).toBe(index);
      const muTensor = tf.tensor2d(mu, [1, 2]);
      const logVarTensor = tf.tensor2d(logVar, [1, 2]);
      const result = await gqSearch(muTensor, logVarTensor, codebook, options);
      expect((await result.data())[0]).toBe(index);
      tf.dispose([muTensor, logVarTensor, result]);
    }
  });
  it('reproduces the tabulated scores', () => {
    const full1 = [-1.2793, 2.7552, -1.3552, -14.9569, -22.4247, -38.5937, -28.9791, -25.7569];
    const inner1 = [11.3846, 15.4191, 11.3086, -2.293, -9.7608, -25.9299, -16.3152, -13.093];
    const inner0 = [10.9003, 10.572, 10.8609, -2.43, -9.8878, -26.7348, -16.818, -13.5132];
    const squared = [2.0706, 1.2995, 1.1219, 3.5396, 5.8228, 7.9768, 6.0527, 5.4203];
    const oracle1 = oracleSearch(mu, logVar, 0, codebook.values, 8, 2, 1);
    const oracle0 = oracleSearch(mu, logVar, 0, codebook.values, 8, 2, 0);
    const nearest = oracleSearch(mu, null, 0, codebook.values, 8, 2, 0);
    // The oracle drops terms constant in j: ½Σμ²σ⁻² (inner-product form) and κ = −Σ ln σ_d (full form, β = 1).
    const halfMahalanobis = 0.5 * (1.3 ** 2 / 0.49 + 1.5 ** 2 / 0.09);
    const kappa = -Math.log(0.7) - Math.log(0.3);
    for (let j = 0; j < 8; j++) {
      expect(oracle1.scores[j]! + kappa).toBeCloseTo(full1[j]!, 3);
      expect(oracle1.scores[j]! + halfMahalanobis).toBeCloseTo(inner1[j]!, 3);
      expect(oracle0.scores[j]! + halfMahalanobis).toBeCloseTo(inner0[j]!, 3);
      expect(-2 * nearest.scores[j]!).toBeCloseTo(squared[j]!, 3);
    }
  });
  it('m = 1 example: index 5 for β=1, index 4 for β=0', () => {
    const scalar = createCodebook({ size: 8, dim: 1, seed: 42, method: 'normal' });
    const logVarHalf = new Float32Array([Math.log(0.25)]);
    expect(gqSearchCpu(new Float32Array([-0.6]), logVarHalf, scalar, { beta: 1 })[0]).toBe(5);
    expect(gqSearchCpu(new Float32Array([-0.6]), logVarHalf, scalar, { beta: 0 })[0]).toBe(4);
  });
});

describe('gqSearchCpu row ranges', () => {
  it('searching [0, N/2) and [N/2, N) into one output equals one full search', () => {
    const codebook = createCodebook({ size: 4096, dim: 8, seed: 1, method: 'sobol' });
    const { mu, logVar } = makeQueries(37, 8, 77);
    const full = gqSearchCpu(mu, logVar, codebook);
    const split = new Int32Array(37).fill(-1);
    gqSearchCpu(mu, logVar, codebook, { rowStart: 0, rowEnd: 18, out: split });
    gqSearchCpu(mu, logVar, codebook, { rowStart: 18, rowEnd: 37, out: split });
    expect(Array.from(split)).toEqual(Array.from(full));
  });
});

describe('search input validation', () => {
  const codebook: Codebook = createCodebook({ size: 16, dim: 2, seed: 1, method: 'normal' });
  it('gqSearchCpu throws CodebookError with codes and clear messages', () => {
    const ok = new Float32Array(4);
    const nan = new Float32Array([0, 0, 1, Number.NaN]);
    expect(() => gqSearchCpu(new Float32Array(0), null, codebook)).toThrow(expect.objectContaining({ code: 'empty' }));
    expect(() => gqSearchCpu(new Float32Array(3), null, codebook)).toThrow(/mu length must be a multiple of dim=2, got 3/);
    expect(() => gqSearchCpu(ok, new Float32Array(2), codebook)).toThrow(expect.objectContaining({ code: 'shape-mismatch' }));
    expect(() => gqSearchCpu(nan, ok, codebook)).toThrow(/mu must be finite, got 1 NaN\/±Infinity value\(s\); first NaN at row 1, column 1/);
    expect(() => gqSearchCpu(ok, new Float32Array([Infinity, 0, 0, -Infinity]), codebook)).toThrow(/logVar must be finite, got 2/);
    expect(() => gqSearchCpu(ok, ok, codebook, { beta: Number.NaN })).toThrow(expect.objectContaining({ code: 'bad-beta' }));
    expect(() => gqSearchCpu(ok, ok, codebook, { rowStart: 1, rowEnd: 3 })).toThrow(expect.objectContaining({ code: 'bad-range' }));
    expect(() => gqSearchCpu(ok, ok, codebook, { algorithm: 'sorted' })).toThrow(/'sorted' needs dim m = 1/);
    expect(() => gqSearchCpu(ok, ok, codebook, { rule: 'vq' as never })).toThrow(CodebookError);
  });
  it('gqSearch validates shapes and finiteness', async () => {
    const mu = tf.tensor2d([0, 0, 1, Number.NaN], [2, 2]);
    const wrong = tf.zeros([2, 3]) as tf.Tensor2D;
    await expect(gqSearch(mu, null, codebook)).rejects.toThrow(/gqSearch: mu must be finite, got 1 .* at \[1, 1\]/);
    await expect(gqSearch(wrong, null, codebook)).rejects.toThrow(/mu must have shape \[N, 2\], got \[2,3\]/);
    await expect(gqSearch(tf.zeros([0, 2]) as tf.Tensor2D, null, codebook)).rejects.toThrow(expect.objectContaining({ code: 'empty' }));
    await expect(gqSearch(wrong, null, codebook, { memoryBudgetBytes: 0 })).rejects.toThrow(expect.objectContaining({ code: 'bad-budget' }));
    tf.dispose([mu, wrong]);
  });
  it('gqSearch leaks no tensors (after its per-codebook cache is built)', async () => {
    const mu = tf.tensor2d(new Float32Array(40).map((_, i) => Math.sin(i)), [20, 2]);
    const logVar = tf.zeros([20, 2]) as tf.Tensor2D;
    (await gqSearch(mu, logVar, codebook)).dispose();
    expect(
      await tensorGrowth(async () => {
        (await gqSearch(mu, logVar, codebook, { memoryBudgetBytes: 16 * 4 * 3 })).dispose();
        (await gqSearch(mu, null, codebook, { rule: 'nearest' })).dispose();
        await expect(gqSearch(tf.tensor2d([[Number.NaN, 0]]), null, codebook)).rejects.toThrow(CodebookError);
      }),
    ).toBe(1); // the NaN input tensor built inside the callback
    const before = tf.memory().numTensors;
    releaseCodebookTensors(codebook);
    expect(tf.memory().numTensors).toBe(before - 2);
    tf.dispose([mu, logVar]);
  });
});
