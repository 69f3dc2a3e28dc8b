import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { seededNormal, seededRandom, setupBackend } from '@gq/test-utils';
import {
  LargeErrorBins,
  MetricsError,
  largeErrorStats,
  slackNats,
  theorem31Bound,
  theorem32Bound,
} from '@gq/metrics';

beforeAll(async () => {
  await setupBackend('cpu');
});

describe('Theorem 3.1 and 3.2 bounds', () => {
  it('reproduces the values listed in docs/algorithms.md §7 (c1 = 0)', () => {
    const bits = (b: number) => b * Math.LN2;
    // Listed to the shown digits; 0.0004 is 4.0e-4 rounded, so compare relative there.
    expect(theorem31Bound(0)).toBeCloseTo(0.616, 3);
    expect(theorem31Bound(bits(1))).toBeCloseTo(0.38, 3);
    expect(theorem31Bound(bits(2))).toBeCloseTo(0.144, 3);
    expect(theorem31Bound(bits(3))).toBeCloseTo(0.021, 3);
    expect(theorem31Bound(bits(4))).toBeCloseTo(0.0004, 4);
    expect(theorem32Bound(bits(2), 1)).toBeCloseTo(0.8, 2);
  });

  it('is the closed form and behaves as a bound should', () => {
    const t = 0.7;
    const c1 = 0.3;
    expect(theorem31Bound(t, c1)).toBe(Math.exp(-Math.exp(t) * Math.sqrt(2 / Math.PI) * Math.exp(-c1 - 0.5)));
    // Larger c1 (less favourable posteriors) loosens the bound; more slack tightens it.
    expect(theorem31Bound(t, 1)).toBeGreaterThan(theorem31Bound(t, 0));
    expect(theorem31Bound(2)).toBeLessThan(theorem31Bound(1));
    // The converse is vacuous (clamped at 0) with no shortfall and large c2.
    expect(theorem32Bound(0, 3)).toBe(0);
    expect(slackNats(256, 8)).toBeCloseTo(0, 14);
  });

  it('rejects negative slack and c1', () => {
    expect(() => theorem31Bound(-0.1)).toThrow(MetricsError);
    expect(() => theorem31Bound(0, -1)).toThrow(MetricsError);
    expect(() => theorem32Bound(NaN, 1)).toThrow(MetricsError);
  });
});

describe('largeErrorStats', () => {
  it('counts |ẑ − μ| ≥ σ per dimension and per token against a float64 oracle', async () => {
    const rand = seededRandom(31);
    const n = 2 * 4 * 4 * 8;
    const mu = Float32Array.from({ length: n }, () => rand() * 4 - 2);
    const zq = Float32Array.from({ length: n }, () => rand() * 4 - 2);
    // Include values beyond the clamp range [−30, 20] to check that ℓ is clamped before σ.
    const logVar = Float32Array.from({ length: n }, (_, i) => (i % 17 === 0 ? -80 : i % 19 === 0 ? 40 : rand() * 4 - 3));
    const shape = [2, 4, 4, 8];
    const [tz, tm, tl] = [tf.tensor(zq, shape), tf.tensor(mu, shape), tf.tensor(logVar, shape)];
    const stats = await largeErrorStats(tz, tm, tl, { tokenDim: 4 });
    tf.dispose([tz, tm, tl]);
    let total = 0;
    const perToken = new Array<number>(n / 4).fill(0);
    for (let i = 0; i < n; i++) {
      const sigma = Math.exp(Math.min(20, Math.max(-30, logVar[i]!)) / 2);
      // Comparisons near the threshold could differ between float32 and float64: none is closer than 1e-4.
      expect(Math.abs(Math.abs(zq[i]! - mu[i]!) - sigma)).toBeGreaterThan(1e-4);
      if (Math.abs(zq[i]! - mu[i]!) >= sigma) {
        total++;
        perToken[Math.floor(i / 4)]!++;
      }
    }
    expect(stats.dims).toBe(n);
    expect(stats.largeErrors).toBe(total);
    expect(stats.probability).toBe(total / n);
    expect(Array.from(stats.perToken)).toEqual(perToken);
    expect(total).toBeGreaterThan(0);
    expect(total).toBeLessThan(n);
  });

  it('rejects mismatched shapes, indivisible tokenDim and non-finite input', async () => {
    const a = tf.zeros([2, 6]);
    const b = tf.zeros([2, 5]);
    const nan = tf.fill([2, 6], NaN);
    await expect(largeErrorStats(a, b, a)).rejects.toBeInstanceOf(MetricsError);
    await expect(largeErrorStats(a, a, a, { tokenDim: 4 })).rejects.toThrow(
      'largeErrorStats: last dimension must be divisible by tokenDim=4, got shape [2,6]',
    );
    await expect(largeErrorStats(a, nan, a)).rejects.toThrow(MetricsError);
    tf.dispose([a, b, nan]);
  });
});

describe('LargeErrorBins', () => {
  it('bins tokens by their own slack t_u and attaches the bound at each lower edge', () => {
    const bins = new LargeErrorBins({ binWidth: 0.5 });
    // K = 256: t = ln 256 − R ln 2 = (8 − R)·ln 2 nats.
    bins.add({ rates: [8, 8, 7, 9.5], largeErrors: [1, 0, 0, 1], tokenDim: 1, codebookSize: 256 });
    // K = 16 with m = 2: R = 2 bits gives t = 2 ln 2 ≈ 1.386 → bin [1, 1.5).
    bins.add({ rates: [2], largeErrors: [1], tokenDim: 2, codebookSize: 16 });
    const rows = bins.rows();
    expect(rows.map((r) => r.lower)).toEqual([-1.5, 0, 0.5, 1]);
    expect(rows.map((r) => r.tokens)).toEqual([1, 2, 1, 1]);
    expect(rows.map((r) => r.probability)).toEqual([1, 0.5, 0, 0.5]);
    expect(rows[0]!.bound).toBeNull();
    expect(rows[1]!.bound).toBe(theorem31Bound(0));
    expect(rows[3]!.bound).toBe(theorem31Bound(1));
    expect(rows[3]!.dims).toBe(2);
  });

  it('simulated GQ (m = 1, nearest rule, i.i.d. N(0,1) codebooks): every bin is below its bound', async () => {
    const normal = seededNormal(77);
    const rand = seededRandom(78);
    const bins = new LargeErrorBins({ binWidth: 0.5 });
    // Theorem 3.1 needs |μσ| ≤ c1: keep only such tokens so the bound is tight enough to test.
    const c1 = 0.25;
    for (const bitsK of [3, 5, 7]) {
      const k = 2 ** bitsK;
      // Fresh codebooks per group of tokens: the theorem's probability is over the codebook draw too.
      for (let group = 0; group < 40; group++) {
        const codebook = Float64Array.from({ length: k }, () => normal()).sort();
        const tokens = 100;
        const rates = new Float64Array(tokens);
        const zq = new Float32Array(tokens);
        const mu = new Float32Array(tokens);
        const logVar = new Float32Array(tokens);
        for (let u = 0; u < tokens; u++) {
          let sigma2: number;
          let m: number;
          do {
            sigma2 = Math.exp(-Math.LN2 * 2 * (bitsK - 2 + 4 * rand()));
            m = Math.sqrt(1 - sigma2) * normal();
          } while (Math.abs(m * Math.sqrt(sigma2)) > c1);
          mu[u] = m;
          logVar[u] = Math.log(sigma2);
          rates[u] = (0.5 * (m * m + sigma2 - 1 - Math.log(sigma2))) / Math.LN2;
          let best = codebook[0]!;
          for (const c of codebook) if (Math.abs(c - m) < Math.abs(best - m)) best = c;
          zq[u] = best;
        }
        const [tz, tm, tl] = [tf.tensor1d(zq), tf.tensor1d(mu), tf.tensor1d(logVar)];
        const stats = await largeErrorStats(tz, tm, tl);
        tf.dispose([tz, tm, tl]);
        bins.add({ rates, largeErrors: stats.perToken, tokenDim: 1, codebookSize: k });
      }
    }
    const rows = bins.rows(c1).filter((r) => r.bound !== null && r.tokens >= 200);
    expect(rows.length).toBeGreaterThanOrEqual(3);
    for (const row of rows) {
      // Three binomial standard errors of slack for sampling noise.
      const slack = 3 * Math.sqrt((row.bound! * (1 - row.bound!)) / row.tokens) + 1e-3;
      expect(row.probability).toBeLessThanOrEqual(row.bound! + slack);
    }
    // P̂ falls with slack.
    expect(rows[rows.length - 1]!.probability).toBeLessThan(rows[0]!.probability);
  });

  it('rejects inconsistent batches', () => {
    const bins = new LargeErrorBins();
    expect(() => bins.add({ rates: [1, 2], largeErrors: [0], tokenDim: 1, codebookSize: 4 })).toThrow(MetricsError);
    expect(() => bins.add({ rates: [1], largeErrors: [2], tokenDim: 1, codebookSize: 4 })).toThrow(MetricsError);
    expect(() => bins.add({ rates: [1], largeErrors: [0], tokenDim: 1, codebookSize: 1 })).toThrow(MetricsError);
    expect(() => new LargeErrorBins({ binWidth: 0 })).toThrow(MetricsError);
  });
});
