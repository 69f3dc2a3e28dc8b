import { describe, expect, it } from 'vitest';
import { isGqError } from '@gq/core';
import { seededRandom } from '@gq/test-utils';
import { IndexHistogram, MetricsError, codebookStats, codebookUsage, indexEntropy, perplexity } from '@gq/metrics';

/** Float64 oracle: entropy in bits of an explicit count table. */
function entropyOf(counts: number[]): number {
  const total = counts.reduce((a, b) => a + b, 0);
  return counts.filter((c) => c > 0).reduce((h, c) => h - (c / total) * Math.log2(c / total), 0);
}

describe('codebook statistics', () => {
  it('uniform use of all K codes: usage 1, entropy log2 K, perplexity K', () => {
    const indices = Int32Array.from({ length: 4 * 256 }, (_, i) => i % 256);
    const s = codebookStats(indices, 256);
    expect(s.usage).toBe(1);
    expect(s.deadFraction).toBe(0);
    expect(Math.abs(s.entropyBits - 8)).toBeLessThan(1e-12);
    expect(Math.abs(s.perplexity - 256)).toBeLessThan(1e-9);
    expect(s.tokens).toBe(1024);
  });

  it('a hand-worked histogram: counts (2, 1, 1, 0) over K = 4', () => {
    // p = (1/2, 1/4, 1/4): H = 1.5 bits, perplexity 2^1.5; 3 of 4 codes used.
    const indices = Int32Array.from([0, 1, 0, 2]);
    expect(codebookUsage(indices, 4)).toBe(0.75);
    expect(indexEntropy(indices, 4)).toBeCloseTo(1.5, 14);
    expect(perplexity(indices, 4)).toBeCloseTo(2 ** 1.5, 12);
  });

  it('a single used code has entropy 0 and perplexity 1 (0·log 0 = 0, no 1e-5 smoothing)', () => {
    const s = codebookStats(new Int32Array(100).fill(7), 16);
    expect(s.entropyBits).toBe(0);
    expect(s.perplexity).toBe(1);
    expect(s.used).toBe(1);
    expect(s.usage).toBe(1 / 16);
  });

  it('matches a count-table oracle on random skewed indices', () => {
    const rand = seededRandom(3);
    const k = 1000;
    const indices = Int32Array.from({ length: 5000 }, () => Math.floor(k * rand() ** 3));
    const counts = new Array<number>(k).fill(0);
    for (const i of indices) counts[i]!++;
    const s = codebookStats(indices, k);
    expect(s.used).toBe(counts.filter((c) => c > 0).length);
    expect(Math.abs(s.entropyBits - entropyOf(counts))).toBeLessThan(1e-12);
  });

  it('streaming and merged histograms equal one pass over all indices', () => {
    const rand = seededRandom(4);
    const indices = Int32Array.from({ length: 3000 }, () => Math.floor(512 * rand() * rand()));
    const oneShot = codebookStats(indices, 512);
    const streamed = new IndexHistogram(512);
    for (let start = 0; start < indices.length; start += 700) streamed.add(indices.subarray(start, start + 700));
    const left = new IndexHistogram(512).add(indices.subarray(0, 1234));
    const right = new IndexHistogram(512).add(indices.subarray(1234));
    expect(streamed.stats()).toEqual(oneShot);
    expect(left.merge(right).stats()).toEqual(oneShot);
  });

  it('uses a sparse Map above K = 2^24 with the same statistics', () => {
    const big = 2 ** 31;
    const indices = [0, big - 1, 5, 5, 123456789, big - 1];
    const s = codebookStats(indices, big);
    expect(s.used).toBe(4);
    expect(s.usage).toBe(4 / big);
    expect(Math.abs(s.entropyBits - entropyOf([1, 2, 2, 1]))).toBeLessThan(1e-12);
    const h = new IndexHistogram(big).add(indices);
    expect(h.count(5)).toBe(2);
    expect(h.count(6)).toBe(0);
  });

  it('rejects out-of-range and non-integer indices, bad K, empty input, K mismatch on merge', () => {
    const codeOf = (f: () => unknown): string => {
      try {
        f();
      } catch (e) {
        expect(e).toBeInstanceOf(MetricsError);
        expect(isGqError(e)).toBe(true);
        expect(e).toMatchObject({ name: 'MetricsError', source: '@gq/metrics' });
        return (e as MetricsError).code;
      }
      return 'no error';
    };
    expect(codeOf(() => codebookStats([0, 16], 16))).toBe('index-out-of-range');
    expect(codeOf(() => codebookStats([-1], 16))).toBe('index-out-of-range');
    expect(codeOf(() => codebookStats([1.5], 16))).toBe('index-out-of-range');
    expect(codeOf(() => codebookStats([0], 0))).toBe('bad-option');
    expect(codeOf(() => codebookStats([], 16))).toBe('empty');
    expect(codeOf(() => new IndexHistogram(16).merge(new IndexHistogram(8)))).toBe('bad-option');
    expect(() => codebookStats([3, 99], 16)).toThrow('IndexHistogram.add: indices must be integers in [0, 16), got 99 at position 1');
    // A rejected batch leaves the histogram unchanged.
    const h = new IndexHistogram(4).add([1]);
    expect(() => h.add([2, 9])).toThrow(MetricsError);
    expect(h.total).toBe(1);
  });
});
