import { describe, expect, it } from 'vitest';
import { seededNormal } from '@gq/test-utils';
import { MetricsError, RateAccumulator, quantileSorted, rateStats } from '@gq/metrics';

describe('rateStats', () => {
  it('hand-worked example: mean, std, min, max, quantiles, band, histogram', () => {
    const rates = [7, 8, 8.5, 9, 10.5];
    const s = rateStats(rates, { target: 8, tolerance: 0.5, binWidth: 1 });
    expect(s.count).toBe(5);
    expect(s.mean).toBeCloseTo(8.6, 14);
    // Population variance: Σ(r − 8.6)² / 5 = (2.56 + 0.36 + 0.01 + 0.16 + 3.61) / 5 = 1.34.
    expect(s.std).toBeCloseTo(Math.sqrt(1.34), 14);
    expect([s.min, s.max]).toEqual([7, 10.5]);
    // numpy linear: position q·(n−1); p5 → 0.2 → 7 + 0.2·1; p50 → 8.5; p95 → 3.8 → 9 + 0.8·1.5.
    expect(s.quantiles.p5).toBeCloseTo(7.2, 14);
    expect(s.quantiles.p50).toBe(8.5);
    expect(s.quantiles.p95).toBeCloseTo(10.2, 14);
    // Band [7.5, 8.5] inclusive: 8 and 8.5.
    expect(s.inBandFraction).toBe(0.4);
    expect(s.histogram).toEqual({ binWidth: 1, lower: 7, counts: [1, 2, 1, 1] });
  });

  it('no target gives a null in-band fraction', () => {
    expect(rateStats([1, 2, 3]).inBandFraction).toBeNull();
  });

  it('streaming equals one-shot (exact moments, histogram; quantiles within one bin)', () => {
    const normal = seededNormal(21);
    const rates = Float64Array.from({ length: 5000 }, () => 8 + 1.5 * normal());
    const binWidth = 1 / 16;
    const oneShot = rateStats(rates, { target: 8, binWidth });
    const acc = new RateAccumulator({ target: 8, binWidth });
    for (let i = 0; i < rates.length; i += 333) acc.add(rates.subarray(i, i + 333));
    const a = new RateAccumulator({ target: 8, binWidth }).add(rates.subarray(0, 2500));
    const b = new RateAccumulator({ target: 8, binWidth }).add(rates.subarray(2500));
    for (const streamed of [acc.stats(), a.merge(b).stats()]) {
      expect(streamed.count).toBe(oneShot.count);
      expect(Math.abs(streamed.mean - oneShot.mean)).toBeLessThan(1e-12);
      expect(Math.abs(streamed.std - oneShot.std)).toBeLessThan(1e-12);
      expect([streamed.min, streamed.max, streamed.inBandFraction]).toEqual([oneShot.min, oneShot.max, oneShot.inBandFraction]);
      expect(streamed.histogram).toEqual(oneShot.histogram);
      for (const key of ['p5', 'p50', 'p95'] as const) {
        expect(Math.abs(streamed.quantiles[key] - oneShot.quantiles[key])).toBeLessThanOrEqual(binWidth);
      }
    }
    // Gaussian sanity: the 5 % and 95 % quantiles sit near 8 ∓ 1.645·1.5.
    expect(Math.abs(oneShot.quantiles.p95 - (8 + 1.645 * 1.5))).toBeLessThan(0.15);
  });

  it('is accurate with a large offset (two-pass batches, Chan merge)', () => {
    const rates = Float64Array.from({ length: 1000 }, (_, i) => 1e9 + (i % 2));
    const acc = new RateAccumulator();
    for (let i = 0; i < rates.length; i += 7) acc.add(rates.subarray(i, i + 7));
    // ulp(1e9) ≈ 1.2e-7 bounds what any float64 method can do; E[r²] − E[r]² would be off by
    // ~ulp(1e18) = 128 instead.
    expect(Math.abs(acc.stats().std - 0.5)).toBeLessThan(1e-7);
  });

  it('quantileSorted matches numpy linear interpolation', () => {
    expect(quantileSorted([1, 2, 3, 4], 0.5)).toBe(2.5);
    expect(quantileSorted([1, 2, 3, 4], 1)).toBe(4);
    expect(quantileSorted([5], 0.3)).toBe(5);
  });

  it('rejects empty, non-finite and bad options', () => {
    expect(() => rateStats([])).toThrow(MetricsError);
    expect(() => rateStats([1, NaN])).toThrow('RateAccumulator.add: rates must be finite, got NaN at position 1');
    expect(() => rateStats([1], { binWidth: 0 })).toThrow(MetricsError);
    expect(() => new RateAccumulator().stats()).toThrow(MetricsError);
    expect(() => new RateAccumulator({ target: 8 }).merge(new RateAccumulator({ target: 9 }))).toThrow(MetricsError);
  });
});
