import { BAND_HALF_WIDTH } from '@gq/core';
import { MetricsError } from './errors.js';

/** Options of `rateStats` and `RateAccumulator`. */
export interface RateStatsOptions {
  /** Target rate T in bits; enables `inBandFraction`. */
  readonly target?: number;
  /** Band half-width α in bits around T (inclusive on both ends); default `BAND_HALF_WIDTH` from @gq/core (0.5). */
  readonly tolerance?: number;
  /** Histogram bin width in bits; bins are [k·w, (k+1)·w). Default 0.25. */
  readonly binWidth?: number;
}

/** A fixed-width histogram of rates in bits. */
export interface RateHistogram {
  readonly binWidth: number;
  /** Lower edge of the first bin (a multiple of binWidth). */
  readonly lower: number;
  /** Tokens per bin, bin j covering [lower + j·w, lower + (j+1)·w). */
  readonly counts: readonly number[];
}

/** Summary of per-token rates in bits (`rateStats`, `RateAccumulator`). */
export interface RateStats {
  readonly count: number;
  readonly mean: number;
  /** Population standard deviation. */
  readonly std: number;
  readonly min: number;
  readonly max: number;
  /**
   * 5/50/95 % quantiles with linear interpolation between order statistics (numpy's default).
   * Exact from `rateStats`; from a `RateAccumulator` interpolated inside a histogram bin, so within
   * one `binWidth` of the exact value.
   */
  readonly quantiles: { readonly p5: number; readonly p50: number; readonly p95: number };
  readonly histogram: RateHistogram;
  readonly target: number | null;
  readonly tolerance: number;
  /** Fraction of tokens with T − α ≤ R_u ≤ T + α; null without a target. */
  readonly inBandFraction: number | null;
}

function finiteOption(fn: string, name: string, value: number, positive: boolean): number {
  if (!Number.isFinite(value) || (positive ? value <= 0 : value < 0)) {
    throw new MetricsError('bad-option', `${fn}: ${name} must be a finite number${positive ? ' > 0' : ' ≥ 0'}, got ${value}`);
  }
  return value;
}

/**
 * Streaming statistics of per-token rates R_u (bits): exact count, mean, standard deviation
 * (Chan et al. pairwise update in float64), min, max, in-band fraction and histogram; quantiles
 * from the histogram. Per-worker accumulators combine with `merge`.
 */
export class RateAccumulator {
  readonly target: number | null;
  readonly tolerance: number;
  readonly binWidth: number;
  private n = 0;
  private meanValue = 0;
  private m2 = 0;
  private minValue = Infinity;
  private maxValue = -Infinity;
  private inBand = 0;
  private readonly bins = new Map<number, number>();

  constructor(options: RateStatsOptions = {}) {
    const fn = 'RateAccumulator';
    this.target = options.target === undefined ? null : finiteOption(fn, 'target', options.target, false);
    this.tolerance = finiteOption(fn, 'tolerance', options.tolerance ?? BAND_HALF_WIDTH, false);
    this.binWidth = finiteOption(fn, 'binWidth', options.binWidth ?? 0.25, true);
  }

  /** Adds a batch of per-token rates in bits (finite; a KL rate is ≥ 0 but any finite value is accepted). */
  add(rates: ArrayLike<number>): this {
    const count = rates.length;
    if (count === 0) return this;
    let sum = 0;
    for (let i = 0; i < count; i++) {
      const r = rates[i]!;
      if (!Number.isFinite(r)) {
        throw new MetricsError('non-finite', `RateAccumulator.add: rates must be finite, got ${r} at position ${i}`);
      }
      sum += r;
    }
    const batchMean = sum / count;
    let batchM2 = 0;
    for (let i = 0; i < count; i++) {
      const r = rates[i]!;
      const d = r - batchMean;
      batchM2 += d * d;
      if (r < this.minValue) this.minValue = r;
      if (r > this.maxValue) this.maxValue = r;
      if (this.target !== null && r >= this.target - this.tolerance && r <= this.target + this.tolerance) this.inBand++;
      const bin = Math.floor(r / this.binWidth);
      this.bins.set(bin, (this.bins.get(bin) ?? 0) + 1);
    }
    this.combine(count, batchMean, batchM2);
    return this;
  }

  /** Adds another accumulator with the same options. Returns `this`. */
  merge(other: RateAccumulator): this {
    if (
      !(other instanceof RateAccumulator) ||
      other.target !== this.target ||
      other.tolerance !== this.tolerance ||
      other.binWidth !== this.binWidth
    ) {
      throw new MetricsError('bad-option', 'RateAccumulator.merge: other must be a RateAccumulator with the same target, tolerance and binWidth');
    }
    if (other.n === 0) return this;
    this.minValue = Math.min(this.minValue, other.minValue);
    this.maxValue = Math.max(this.maxValue, other.maxValue);
    this.inBand += other.inBand;
    for (const [bin, c] of other.bins) this.bins.set(bin, (this.bins.get(bin) ?? 0) + c);
    this.combine(other.n, other.meanValue, other.m2);
    return this;
  }

  get count(): number {
    return this.n;
  }

  stats(): RateStats {
    if (this.n === 0) throw new MetricsError('empty', 'RateAccumulator.stats: at least one rate must have been added, got 0');
    const histogram = this.histogram();
    const fromHistogram = (q: number): number => this.histogramQuantile(histogram, q);
    return this.assemble(histogram, { p5: fromHistogram(0.05), p50: fromHistogram(0.5), p95: fromHistogram(0.95) });
  }

  /** @internal exact-quantile variant used by `rateStats`. */
  statsWithQuantiles(quantiles: RateStats['quantiles']): RateStats {
    return this.assemble(this.histogram(), quantiles);
  }

  private assemble(histogram: RateHistogram, quantiles: RateStats['quantiles']): RateStats {
    return {
      count: this.n,
      mean: this.meanValue,
      std: Math.sqrt(this.m2 / this.n),
      min: this.minValue,
      max: this.maxValue,
      quantiles,
      histogram,
      target: this.target,
      tolerance: this.tolerance,
      inBandFraction: this.target === null ? null : this.inBand / this.n,
    };
  }

  private combine(count: number, mean: number, m2: number): void {
    const total = this.n + count;
    const delta = mean - this.meanValue;
    this.meanValue += (delta * count) / total;
    this.m2 += m2 + (delta * delta * this.n * count) / total;
    this.n = total;
  }

  private histogram(): RateHistogram {
    let first = Infinity;
    let last = -Infinity;
    for (const bin of this.bins.keys()) {
      first = Math.min(first, bin);
      last = Math.max(last, bin);
    }
    const counts = new Array<number>(last - first + 1).fill(0);
    for (const [bin, c] of this.bins) counts[bin - first] = c;
    return { binWidth: this.binWidth, lower: first * this.binWidth, counts };
  }

  private histogramQuantile(histogram: RateHistogram, q: number): number {
    // Order statistic at fractional rank q·(N − 1), placed uniformly inside its bin.
    const rank = q * (this.n - 1);
    let below = 0;
    for (let j = 0; j < histogram.counts.length; j++) {
      const c = histogram.counts[j]!;
      if (c > 0 && rank < below + c) {
        const within = c === 1 ? 0.5 : (rank - below) / (c - 1);
        const value = histogram.lower + (j + within) * histogram.binWidth;
        return Math.min(this.maxValue, Math.max(this.minValue, value));
      }
      below += c;
    }
    return this.maxValue;
  }
}

/** Linear-interpolation quantile of ascending `sorted` at q ∈ [0, 1] (numpy's default method). */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) throw new MetricsError('empty', 'quantileSorted: sorted must not be empty');
  if (!(q >= 0 && q <= 1)) throw new MetricsError('bad-option', `quantileSorted: q must be in [0, 1], got ${q}`);
  const position = q * (sorted.length - 1);
  const lowerIndex = Math.floor(position);
  const upperIndex = Math.min(lowerIndex + 1, sorted.length - 1);
  const fraction = position - lowerIndex;
  const lo = sorted[lowerIndex]!;
  return lo + (sorted[upperIndex]! - lo) * fraction;
}

/**
 * Statistics of per-token rates R_u in bits (mean, std, min, max, exact 5/50/95 % quantiles,
 * histogram, fraction within [T − α, T + α]).
 *
 * @param rates [N] per-token KL rates in bits (Float32Array, Float64Array or number[])
 */
export function rateStats(rates: ArrayLike<number>, options: RateStatsOptions = {}): RateStats {
  if (rates.length === 0) throw new MetricsError('empty', 'rateStats: rates must not be empty, got length 0');
  const accumulator = new RateAccumulator(options).add(rates);
  const sorted = Float64Array.from(rates).sort();
  return accumulator.statsWithQuantiles({
    p5: quantileSorted(sorted, 0.05),
    p50: quantileSorted(sorted, 0.5),
    p95: quantileSorted(sorted, 0.95),
  });
}
