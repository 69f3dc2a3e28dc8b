import * as tf from '@tensorflow/tfjs-core';
import { LOG_VAR_MAX, LOG_VAR_MIN } from '@gq/core';
import { MetricsError } from './errors.js';

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

function finiteAtLeastZero(fn: string, name: string, value: number): void {
  if (!Number.isFinite(value) || value < 0) {
    throw new MetricsError('bad-option', `${fn}: ${name} must be a finite number ≥ 0, got ${value}`);
  }
}

/**
 * Theorem 3.1 (m = 1, nearest-neighbour rule): with |μσ| ≤ c1 and ln K = R + t, t ≥ 0 nats,
 * P(|ẑ − μ| ≥ σ) ≤ exp(−e^t·√(2/π)·e^{−c1−0.5}).
 */
export function theorem31Bound(slackNats: number, c1 = 0): number {
  finiteAtLeastZero('theorem31Bound', 'slackNats (t = ln K − R)', slackNats);
  finiteAtLeastZero('theorem31Bound', 'c1', c1);
  return Math.exp(-Math.exp(slackNats) * SQRT_2_OVER_PI * Math.exp(-c1 - 0.5));
}

/**
 * Theorem 3.2 (converse): with |μ| + |σ| ≤ c2 and ln K = R − t, t ≥ 0 nats,
 * P(|ẑ − μ| ≥ σ) ≥ 1 − e^{−t}·√(2/π)·e^{c2²/2 − 0.5}; returned clamped at 0 (a vacuous bound).
 */
export function theorem32Bound(shortfallNats: number, c2: number): number {
  finiteAtLeastZero('theorem32Bound', 'shortfallNats (t = R − ln K)', shortfallNats);
  finiteAtLeastZero('theorem32Bound', 'c2', c2);
  return Math.max(0, 1 - Math.exp(-shortfallNats) * SQRT_2_OVER_PI * Math.exp((c2 * c2) / 2 - 0.5));
}

/** Slack t = ln K − R·ln 2 in nats for a token of rate R bits and a codebook of K entries. */
export function slackNats(codebookSize: number, rateBits: number): number {
  return Math.log(codebookSize) - rateBits * Math.LN2;
}

/** Options of `largeErrorStats`. */
export interface LargeErrorOptions {
  /** Dimensions per token m; tokens are runs of m consecutive entries of the last axis. Default 1. */
  readonly tokenDim?: number;
}

/** How often GQ lands at least one σ away from μ (`largeErrorStats`). */
export interface LargeErrorStats {
  /** Scalar latent dimensions compared. */
  readonly dims: number;
  /** Dimensions with |ẑ_d − μ_d| ≥ σ_d. */
  readonly largeErrors: number;
  /** P̂ = largeErrors / dims. */
  readonly probability: number;
  readonly tokenDim: number;
  /** [dims / tokenDim] number of large-error dimensions in each token. */
  readonly perToken: Int32Array;
}

/**
 * Quantisation-error statistics for GQ: the fraction of scalar dimensions with |ẑ_d − μ_d| ≥ σ_d,
 * σ = exp(ℓ/2) with ℓ = clamp(logVar, −30, 20), and the count per token for binning by slack.
 *
 * @param zq quantised latent, float32, any shape whose last axis is a multiple of tokenDim
 * @param mu posterior mean, same shape
 * @param logVar raw or clamped log-variance, same shape
 */
export async function largeErrorStats(
  zq: tf.Tensor,
  mu: tf.Tensor,
  logVar: tf.Tensor,
  options: LargeErrorOptions = {},
): Promise<LargeErrorStats> {
  const fn = 'largeErrorStats';
  const tokenDim = options.tokenDim ?? 1;
  if (!Number.isSafeInteger(tokenDim) || tokenDim < 1) {
    throw new MetricsError('bad-option', `${fn}: tokenDim must be a positive integer, got ${tokenDim}`);
  }
  for (const [name, t] of [['zq', zq], ['mu', mu], ['logVar', logVar]] as const) {
    if (!(t instanceof tf.Tensor)) throw new MetricsError('bad-dtype', `${fn}: ${name} must be a tf.Tensor`);
    if (t.dtype !== 'float32') throw new MetricsError('bad-dtype', `${fn}: ${name} must be float32, got ${t.dtype}`);
    if (t.rank < 1 || t.size === 0) {
      throw new MetricsError('bad-shape', `${fn}: ${name} must be a non-empty tensor, got shape [${t.shape.join(',')}]`);
    }
    if (t.rank !== mu.rank || t.shape.some((d, i) => d !== mu.shape[i])) {
      throw new MetricsError('bad-shape', `${fn}: zq, mu and logVar must have the same shape, got [${zq.shape.join(',')}], [${mu.shape.join(',')}], [${logVar.shape.join(',')}]`);
    }
  }
  const last = mu.shape[mu.rank - 1]!;
  if (last % tokenDim !== 0) {
    throw new MetricsError('bad-shape', `${fn}: last dimension must be divisible by tokenDim=${tokenDim}, got shape [${mu.shape.join(',')}]`);
  }
  const [counts, nonFinite] = tf.tidy(() => {
    const sigma = tf.exp(tf.mul(tf.clipByValue(logVar, LOG_VAR_MIN, LOG_VAR_MAX), 0.5));
    const error = tf.abs(tf.sub(zq, mu));
    const large = tf.cast(tf.greaterEqual(error, sigma), 'int32');
    const bad = tf.sum(tf.cast(tf.logicalNot(tf.isFinite(tf.add(error, tf.abs(logVar)))), 'int32'));
    return [tf.sum(tf.reshape(large, [-1, tokenDim]), 1), bad];
  });
  let perToken: Int32Array;
  let badCount: number;
  try {
    const [countData, badData] = await Promise.all([counts.data(), nonFinite.data()]);
    perToken = Int32Array.from(countData);
    badCount = badData[0]!;
  } finally {
    tf.dispose([counts, nonFinite]);
  }
  if (badCount > 0) {
    throw new MetricsError('non-finite', `${fn}: zq, mu and logVar must be finite, got ${badCount} non-finite entries`);
  }
  let largeErrors = 0;
  for (const c of perToken) largeErrors += c;
  const dims = mu.size;
  return { dims, largeErrors, probability: largeErrors / dims, tokenDim, perToken };
}

/** One bin of `LargeErrorBins`: tokens grouped by slack t = ln K − R. */
export interface LargeErrorBin {
  /** Bin edges in nats of slack t = ln K − R. */
  readonly lower: number;
  readonly upper: number;
  readonly tokens: number;
  readonly dims: number;
  readonly largeErrors: number;
  /** P̂ within the bin. */
  readonly probability: number;
  /**
   * Theorem 3.1 at the bin's lower edge (the bound falls with t, so this is the bound that every
   * token in the bin satisfies); null where the lower edge is below 0 and the theorem says nothing.
   */
  readonly bound: number | null;
}

/** One batch added to `LargeErrorBins`: per-token rates and large-error counts. */
export interface LargeErrorBatch {
  /** [N] per-token rates R_u in bits. */
  readonly rates: ArrayLike<number>;
  /** [N] large-error dimensions per token (`largeErrorStats(...).perToken`). */
  readonly largeErrors: ArrayLike<number>;
  /** Dimensions per token m. */
  readonly tokenDim: number;
  /** K of the codebook these tokens were quantised with. */
  readonly codebookSize: number;
}

/**
 * Pools tokens from any number of codebook sizes and bins them by their own slack t_u, for the
 * K-sweep plot. The bound holds per token, so each bin is compared with the bound at its lower
 * edge rather than averaging P over tokens of different rates.
 */
export class LargeErrorBins {
  readonly binWidth: number;
  private readonly bins = new Map<number, { tokens: number; dims: number; largeErrors: number }>();

  constructor(options: { readonly binWidth?: number } = {}) {
    const binWidth = options.binWidth ?? 0.5;
    if (!Number.isFinite(binWidth) || binWidth <= 0) {
      throw new MetricsError('bad-option', `LargeErrorBins: binWidth must be a finite number > 0, got ${binWidth}`);
    }
    this.binWidth = binWidth;
  }

  add(batch: LargeErrorBatch): this {
    const fn = 'LargeErrorBins.add';
    const { rates, largeErrors, tokenDim, codebookSize } = batch;
    if (rates.length !== largeErrors.length) {
      throw new MetricsError('bad-shape', `${fn}: rates and largeErrors must have the same length, got ${rates.length} and ${largeErrors.length}`);
    }
    if (!Number.isSafeInteger(tokenDim) || tokenDim < 1) {
      throw new MetricsError('bad-option', `${fn}: tokenDim must be a positive integer, got ${tokenDim}`);
    }
    if (!Number.isSafeInteger(codebookSize) || codebookSize < 2) {
      throw new MetricsError('bad-option', `${fn}: codebookSize must be an integer ≥ 2, got ${codebookSize}`);
    }
    for (let i = 0; i < rates.length; i++) {
      const hits = largeErrors[i]!;
      if (!Number.isFinite(rates[i]!)) throw new MetricsError('non-finite', `${fn}: rates must be finite, got ${rates[i]} at ${i}`);
      if (!Number.isInteger(hits) || hits < 0 || hits > tokenDim) {
        throw new MetricsError('bad-option', `${fn}: largeErrors must be integers in [0, ${tokenDim}], got ${hits} at ${i}`);
      }
    }
    const lnK = Math.log(codebookSize);
    for (let i = 0; i < rates.length; i++) {
      const key = Math.floor((lnK - rates[i]! * Math.LN2) / this.binWidth);
      const bin = this.bins.get(key) ?? { tokens: 0, dims: 0, largeErrors: 0 };
      bin.tokens += 1;
      bin.dims += tokenDim;
      bin.largeErrors += largeErrors[i]!;
      this.bins.set(key, bin);
    }
    return this;
  }

  /** Non-empty bins in increasing t, each with its Theorem 3.1 bound for the given c1 (default 0). */
  rows(c1 = 0): LargeErrorBin[] {
    finiteAtLeastZero('LargeErrorBins.rows', 'c1', c1);
    return [...this.bins.entries()]
      .sort((x, y) => x[0] - y[0])
      .map(([key, bin]) => {
        const lower = key * this.binWidth;
        return {
          lower,
          upper: lower + this.binWidth,
          tokens: bin.tokens,
          dims: bin.dims,
          largeErrors: bin.largeErrors,
          probability: bin.largeErrors / bin.dims,
          bound: lower >= 0 ? theorem31Bound(lower, c1) : null,
        };
      });
  }
}
