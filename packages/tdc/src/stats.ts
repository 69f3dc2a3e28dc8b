import { TdcError } from './errors.js';

/**
 * Histogram of per-token bits around the band [T − α, T + α]. `edges` has 2·k ascending entries
 * (k = 4): T−α−3, T−α−2, T−α−1, T−α, T+α, T+α+1, T+α+2, T+α+3. `counts` has 2·k + 1 bins:
 * below the first edge, the 1-bit bins below the band (lower edge inclusive), the band itself
 * (both ends inclusive, as the tier weights), the 1-bit bins above it (upper edge inclusive), and
 * above the last edge.
 */
export interface BitsHistogram {
  readonly edges: readonly number[];
  readonly counts: readonly number[];
}

/** Rate statistics of one forward pass (or of several, merged with `combineStats`). Bits per token. */
export interface TdcStats {
  /** Number of tokens. */
  readonly count: number;
  /** Σ R_u (float64 accumulation of the float32 per-token rates). */
  readonly sum: number;
  /** R̄ = sum / count. */
  readonly mean: number;
  readonly min: number;
  readonly max: number;
  /** Tokens with R_u < T − α. */
  readonly below?: number;
  /** Tokens with T − α ≤ R_u ≤ T + α. */
  readonly inBand?: number;
  /** Tokens with R_u > T + α. */
  readonly above?: number;
  readonly histogram?: BitsHistogram;
  /** The controller's `updates` counter when the loss was computed (guards against stale stats). */
  readonly updates?: number;
  /** The loss value of that forward pass (omitted by `combineStats`). */
  readonly loss?: number;
  /** λ, λ_min, λ_max used by that forward pass. */
  readonly lambda?: number;
  readonly lambdaMin?: number;
  readonly lambdaMax?: number;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

const BINS_PER_SIDE = 4;

/** Histogram edges around the band; see `BitsHistogram`. */
export function histogramEdges(targetBits: number, tolerance: number): number[] {
  const edges: number[] = [];
  for (let k = BINS_PER_SIDE - 1; k >= 0; k--) edges.push(targetBits - tolerance - k);
  for (let k = 0; k < BINS_PER_SIDE; k++) edges.push(targetBits + tolerance + k);
  return edges;
}

function binOf(value: number, edges: readonly number[]): number {
  const half = BINS_PER_SIDE;
  if (value < edges[half - 1]!) {
    for (let i = half - 1; i >= 0; i--) if (value >= edges[i]!) return i;
    return 0;
  }
  if (value <= edges[half]!) return half;
  for (let i = half + 1; i < edges.length; i++) if (value <= edges[i]!) return i;
  return edges.length;
}

/**
 * Statistics of per-token rates (a plain typed-array helper, usable on rates read from `klBits`).
 * Accumulates in float64. Throws `TdcError('non-finite')` naming the first bad token.
 */
export function summarizeBits(
  bits: ArrayLike<number>,
  options: { readonly targetBits: number; readonly tolerance: number },
): TdcStats {
  const { targetBits, tolerance } = options;
  const count = bits.length;
  if (count === 0) throw new TdcError('empty', 'summarizeBits: bits must hold at least one token, got 0');
  const lower = targetBits - tolerance;
  const upper = targetBits + tolerance;
  const edges = histogramEdges(targetBits, tolerance);
  const counts = new Array<number>(edges.length + 1).fill(0);
  let sum = 0;
  let min = Infinity;
  let max = -Infinity;
  let below = 0;
  let above = 0;
  let nonFinite = 0;
  let firstBad = -1;
  for (let i = 0; i < count; i++) {
    const r = bits[i]!;
    if (!Number.isFinite(r)) {
      nonFinite++;
      if (firstBad < 0) firstBad = i;
      continue;
    }
    sum += r;
    if (r < min) min = r;
    if (r > max) max = r;
    if (r < lower) below++;
    else if (r > upper) above++;
    counts[binOf(r, edges)]!++;
  }
  if (nonFinite > 0) {
    throw new TdcError(
      'non-finite',
      `summarizeBits: per-token bits must be finite, got ${nonFinite} non-finite of ${count} (first at token ${firstBad}: ${bits[firstBad]})`,
    );
  }
  return {
    count,
    sum,
    mean: sum / count,
    min,
    max,
    below,
    inBand: count - below - above,
    above,
    histogram: { edges, counts },
  };
}

function checkStats(fn: string, stats: TdcStats, index: number): void {
  const where = index >= 0 ? `stats[${index}]` : 'stats';
  if (stats === null || typeof stats !== 'object') throw new TdcError('bad-stats', `${fn}: ${where} must be an object, got ${String(stats)}`);
  if (!Number.isInteger(stats.count) || stats.count < 1) {
    throw new TdcError('bad-stats', `${fn}: ${where}.count must be a positive integer, got ${String(stats.count)}`);
  }
  for (const key of ['mean', 'min', 'max'] as const) {
    if (typeof stats[key] !== 'number' || !Number.isFinite(stats[key])) {
      throw new TdcError('non-finite', `${fn}: ${where}.${key} must be a finite number, got ${String(stats[key])}`);
    }
  }
}

/** Validates statistics before a controller update (no NaN may steer λ). */
export function assertUsableStats(fn: string, stats: TdcStats): void {
  checkStats(fn, stats, -1);
}

/**
 * Merges statistics from data-parallel workers (or micro-batches of one step): N = Σ n_w,
 * R̄ = Σ_w ΣR_w / N, R_min = min_w, R_max = max_w, counts and histograms add up. Every worker
 * that applies `update` to the result makes the same decision, so their λ's stay bit-identical.
 * `sum` is used when present, else mean·count. `loss` is dropped (each worker normalises by its
 * own batch).
 */
export function combineStats(list: readonly TdcStats[]): TdcStats {
  if (!Array.isArray(list) || list.length === 0) {
    throw new TdcError('empty', `combineStats: list must hold at least one stats object, got ${Array.isArray(list) ? 0 : typeof list}`);
  }
  list.forEach((s, i) => checkStats('combineStats', s, i));
  const updates = list[0]!.updates;
  if (list.some((s) => s.updates !== updates)) {
    throw new TdcError(
      'stale-stats',
      `combineStats: all stats must come from the same controller step, got updates ${list.map((s) => String(s.updates)).join(', ')}`,
    );
  }
  let count = 0;
  let sum = 0;
  let min = Infinity;
  let max = -Infinity;
  for (const s of list) {
    count += s.count;
    sum += typeof s.sum === 'number' && Number.isFinite(s.sum) ? s.sum : s.mean * s.count;
    min = Math.min(min, s.min);
    max = Math.max(max, s.max);
  }
  const merged: Mutable<TdcStats> = { count, sum, mean: sum / count, min, max };
  if (list.every((s) => s.below !== undefined && s.inBand !== undefined && s.above !== undefined)) {
    merged.below = list.reduce((a, s) => a + s.below!, 0);
    merged.inBand = list.reduce((a, s) => a + s.inBand!, 0);
    merged.above = list.reduce((a, s) => a + s.above!, 0);
  }
  const first = list[0]!.histogram;
  if (first && list.every((s) => s.histogram && sameNumbers(s.histogram.edges, first.edges))) {
    const counts = first.counts.map((_: number, i: number) => list.reduce((a, s) => a + s.histogram!.counts[i]!, 0));
    merged.histogram = { edges: [...first.edges], counts };
  }
  if (updates !== undefined) merged.updates = updates;
  for (const key of ['lambda', 'lambdaMin', 'lambdaMax'] as const) {
    const value: number | undefined = list[0]![key];
    if (value !== undefined && list.every((s) => s[key] === value)) merged[key] = value;
  }
  return merged;
}

function sameNumbers(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
