import type { ClaimCheck } from './report.js';

/** Mean, sample standard deviation and count of one quantity over seeds. */
export interface SeedSummary {
  readonly mean: number;
  /** Sample standard deviation (n − 1); 0 for a single value. */
  readonly sd: number;
  readonly n: number;
}

/** Summarise the values of one quantity over seeds. */
export function summarize(values: readonly number[]): SeedSummary {
  const n = values.length;
  const mean = values.reduce((a, v) => a + v, 0) / n;
  const sd = n > 1 ? Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1)) : 0;
  return { mean, sd, n };
}

/** `mean ± sd` with `digits` decimals (just the mean for one seed). */
export function formatSummary(s: SeedSummary, digits = 2): string {
  return s.n > 1 ? `${s.mean.toFixed(digits)} ± ${s.sd.toFixed(digits)}` : s.mean.toFixed(digits);
}

/** How two quantities compare across seeds. */
export type Comparison = 'greater' | 'less' | 'within noise';

/**
 * Compare a with b: 'greater' or 'less' when the difference of the means exceeds `z` standard errors
 * of that difference (sd²/n of each side, Welch's form), else 'within noise'. With fewer than two seeds
 * on either side the noise is unknown, so nothing can be told apart: 'within noise'.
 */
export function compare(a: SeedSummary, b: SeedSummary, z = 2): Comparison {
  if (a.n < 2 || b.n < 2) return 'within noise';
  const se = Math.sqrt(a.sd ** 2 / a.n + b.sd ** 2 / b.n);
  const diff = a.mean - b.mean;
  if (Math.abs(diff) <= z * se) return 'within noise';
  return diff > 0 ? 'greater' : 'less';
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
