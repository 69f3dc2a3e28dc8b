import type { ClaimCheck } from './report.js';

/** Mean, sample standard deviation and count of one quantity over seeds. */
export interface SeedSummary {
  readonly mean: number;
  /** Sample standard deviation (n − 1); 0 for a single value. */
  readonly sd: number;
  readonly n: number;
  /** The training seed of each value, where known, and the values in that order: `compare` pairs on them. */
  readonly seeds?: readonly number[];
  readonly values?: readonly number[];
}

/** Summarise the values of one quantity over seeds (`seeds[i]` the seed of `values[i]`, where known). */
export function summarize(values: readonly number[], seeds?: readonly number[]): SeedSummary {
  const n = values.length;
  const mean = values.reduce((a, v) => a + v, 0) / n;
  const sd = n > 1 ? Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1)) : 0;
  if (seeds === undefined) return { mean, sd, n };
  if (seeds.length !== n) throw new RangeError(`summarize: seeds must give one seed per value (${n} values), got ${seeds.length}`);
  return { mean, sd, n, seeds: [...seeds], values: [...values] };
}

/** `g` of each row summarised over the rows' seeds, so that `compare` pairs it with another quantity of the same seeds. */
export function summarizeSeeds<R extends { readonly seed: number }>(rows: readonly R[], g: (row: R) => number): SeedSummary {
  return summarize(rows.map(g), rows.map((r) => r.seed));
}

/** `mean ± sd` with `digits` decimals (just the mean for one seed). */
export function formatSummary(s: SeedSummary, digits = 2): string {
  return s.n > 1 ? `${s.mean.toFixed(digits)} ± ${s.sd.toFixed(digits)}` : s.mean.toFixed(digits);
}

/** a − b as `mean ± sd` over the seeds both were measured on, or the difference of the means where they cannot be paired. */
export function formatDifference(a: SeedSummary, b: SeedSummary, digits = 2): string {
  return formatSummary(pairedDifference(a, b) ?? { mean: a.mean - b.mean, sd: 0, n: 1 }, digits);
}

/** How two quantities compare across seeds. */
export type Comparison = 'greater' | 'less' | 'within noise';

/**
 * Compare a with b: 'greater' or 'less' when the difference exceeds `z` standard errors, else
 * 'within noise'. When both sides were measured on the same seeds, the seeds are paired: each seed
 * fixes the held-out split and the data order that every model of that seed shares, so the
 * difference is taken per seed and its standard error is sd(differences)/√n. Otherwise the means
 * are compared with Welch's standard error, √(sd²/n of each side). With fewer than two seeds on
 * either side the noise is unknown, so nothing can be told apart: 'within noise'.
 */
export function compare(a: SeedSummary, b: SeedSummary, z = 2): Comparison {
  if (a.n < 2 || b.n < 2) return 'within noise';
  const paired = pairedDifference(a, b);
  const diff = paired?.mean ?? a.mean - b.mean;
  const se = paired === undefined ? Math.sqrt(a.sd ** 2 / a.n + b.sd ** 2 / b.n) : paired.sd / Math.sqrt(paired.n);
  if (Math.abs(diff) <= z * se) return 'within noise';
  return diff > 0 ? 'greater' : 'less';
}

/** a − b per seed, when both carry values of the same seeds in the same order; else undefined. */
export function pairedDifference(a: SeedSummary, b: SeedSummary): SeedSummary | undefined {
  const sa = a.seeds;
  const sb = b.seeds;
  if (sa === undefined || sb === undefined || a.values === undefined || b.values === undefined) return undefined;
  if (sa.length !== sb.length || sa.some((seed, i) => seed !== sb[i])) return undefined;
  const bv = b.values;
  return summarize(
    a.values.map((v, i) => v - bv[i]!),
    sa,
  );
}

/**
 * Whether a quantity lies below `limit` (or at or above it) beyond its own noise: 'less' when
 * mean + z·sd/√n < limit, 'greater' when mean − z·sd/√n > limit, else 'within noise'. One seed has
 * no known noise: 'within noise'.
 */
export function compareWith(a: SeedSummary, limit: number, z = 2): Comparison {
  if (a.n < 2) return 'within noise';
  const margin = (z * a.sd) / Math.sqrt(a.n);
  if (a.mean + margin < limit) return 'less';
  if (a.mean - margin > limit) return 'greater';
  return 'within noise';
}

/** The verdict of a criterion that holds, fails, or cannot be told from the noise. */
export function verdictOf(outcome: 'holds' | 'fails' | 'unclear'): ClaimCheck['verdict'] {
  return outcome === 'holds' ? 'reproduces' : outcome === 'fails' ? 'does not reproduce' : 'inconclusive';
}
