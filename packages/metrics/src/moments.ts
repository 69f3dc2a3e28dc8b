import { MetricsError } from './errors.js';

/** Mean and covariance of a feature set, float64. */
export interface GaussianMoments {
  readonly dim: number;
  /** Number of feature vectors the moments were estimated from. */
  readonly count: number;
  /** [dim] */
  readonly mean: Float64Array;
  /** [dim, dim] row-major, unbiased (divided by count − 1, as numpy's `np.cov`). */
  readonly covariance: Float64Array;
}

/**
 * Streaming mean and covariance in float64. Each batch is reduced two-pass around its own mean and
 * folded in with Chan et al.'s pairwise update, which keeps the co-moments accurate when the mean is
 * large relative to the spread; `merge` combines per-worker accumulators the same way.
 */
export class MomentAccumulator {
  readonly dim: number;
  private n = 0;
  private readonly meanValue: Float64Array;
  /** Upper triangle (and diagonal) of Σ (x − mean)(x − mean)ᵀ. */
  private readonly comoment: Float64Array;

  constructor(dim: number) {
    if (!Number.isSafeInteger(dim) || dim < 1) {
      throw new MetricsError('bad-option', `MomentAccumulator: dim must be a positive integer, got ${dim}`);
    }
    this.dim = dim;
    this.meanValue = new Float64Array(dim);
    this.comoment = new Float64Array(dim * dim);
  }

  /** Adds rows of a row-major [rows, dim] feature matrix (Float32Array, Float64Array, number[]). */
  add(features: ArrayLike<number>): this {
    const d = this.dim;
    if (features.length % d !== 0) {
      throw new MetricsError(
        'bad-shape',
        `MomentAccumulator.add: features length must be a multiple of dim=${d} (row-major [rows, ${d}]), got ${features.length}`,
      );
    }
    const rows = features.length / d;
    if (rows === 0) return this;
    const batchMean = new Float64Array(d);
    for (let r = 0; r < rows; r++) {
      for (let j = 0; j < d; j++) {
        const value = features[r * d + j]!;
        if (!Number.isFinite(value)) {
          throw new MetricsError('non-finite', `MomentAccumulator.add: features must be finite, got ${value} at row ${r}, column ${j}`);
        }
        batchMean[j] = batchMean[j]! + value;
      }
    }
    for (let j = 0; j < d; j++) batchMean[j] = batchMean[j]! / rows;
    const batchComoment = new Float64Array(d * d);
    const centred = new Float64Array(d);
    for (let r = 0; r < rows; r++) {
      for (let j = 0; j < d; j++) centred[j] = features[r * d + j]! - batchMean[j]!;
      for (let i = 0; i < d; i++) {
        const ci = centred[i]!;
        const rowOffset = i * d;
        for (let j = i; j < d; j++) batchComoment[rowOffset + j] = batchComoment[rowOffset + j]! + ci * centred[j]!;
      }
    }
    this.combine(rows, batchMean, batchComoment);
    return this;
  }

  /** Adds another accumulator of the same dim. Returns `this`. */
  merge(other: MomentAccumulator): this {
    if (!(other instanceof MomentAccumulator) || other.dim !== this.dim) {
      throw new MetricsError('bad-option', `MomentAccumulator.merge: other must be a MomentAccumulator with dim ${this.dim}`);
    }
    if (other.n > 0) this.combine(other.n, other.meanValue, other.comoment);
    return this;
  }

  get count(): number {
    return this.n;
  }

  /** A copy of the running mean [dim]. */
  mean(): Float64Array {
    return Float64Array.from(this.meanValue);
  }

  /** Covariance [dim, dim] row-major, divided by count − ddof (default ddof = 1). */
  covariance(ddof = 1): Float64Array {
    if (ddof !== 0 && ddof !== 1) throw new MetricsError('bad-option', `MomentAccumulator.covariance: ddof must be 0 or 1, got ${ddof}`);
    if (this.n - ddof < 1) {
      throw new MetricsError('too-few-samples', `MomentAccumulator.covariance: needs more than ${ddof} feature vectors, got ${this.n}`);
    }
    const d = this.dim;
    const out = new Float64Array(d * d);
    const divisor = this.n - ddof;
    for (let i = 0; i < d; i++) {
      for (let j = i; j < d; j++) {
        const value = this.comoment[i * d + j]! / divisor;
        out[i * d + j] = value;
        out[j * d + i] = value;
      }
    }
    return out;
  }

  /** Mean and unbiased covariance. */
  moments(): GaussianMoments {
    return { dim: this.dim, count: this.n, mean: this.mean(), covariance: this.covariance(1) };
  }

  private combine(count: number, mean: Float64Array, comoment: Float64Array): void {
    const d = this.dim;
    const total = this.n + count;
    const delta = new Float64Array(d);
    for (let j = 0; j < d; j++) delta[j] = mean[j]! - this.meanValue[j]!;
    const weight = (this.n * count) / total;
    for (let i = 0; i < d; i++) {
      const di = delta[i]! * weight;
      const rowOffset = i * d;
      for (let j = i; j < d; j++) {
        this.comoment[rowOffset + j] = this.comoment[rowOffset + j]! + comoment[rowOffset + j]! + di * delta[j]!;
      }
    }
    for (let j = 0; j < d; j++) this.meanValue[j] = this.meanValue[j]! + (delta[j]! * count) / total;
    this.n = total;
  }
}
