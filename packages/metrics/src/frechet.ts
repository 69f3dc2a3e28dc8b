import * as tf from '@tensorflow/tfjs-core';
import { MetricsError } from './errors.js';
import { MomentAccumulator, type GaussianMoments } from './moments.js';
import { symmetricEigen } from './symmetric-eigen.js';

/** Row-major [rows, dim] feature matrix held in a typed array. */
export interface FeatureMatrix {
  readonly data: ArrayLike<number>;
  readonly dim: number;
}

/** Anything `frechetDistance` can take: features as a [N, D] tensor or matrix, or their moments. */
export type FeatureSource = tf.Tensor | FeatureMatrix | MomentAccumulator | GaussianMoments;

function isMoments(source: unknown): source is GaussianMoments {
  return typeof source === 'object' && source !== null && 'covariance' in source && 'mean' in source;
}

async function toMoments(fn: string, name: string, source: FeatureSource): Promise<GaussianMoments> {
  if (source instanceof MomentAccumulator) return source.moments();
  if (source instanceof tf.Tensor) {
    if (source.rank !== 2) {
      throw new MetricsError('bad-shape', `${fn}: ${name} tensor must have shape [N, D], got [${source.shape.join(',')}]`);
    }
    if (source.dtype !== 'float32' && source.dtype !== 'int32') {
      throw new MetricsError('bad-dtype', `${fn}: ${name} tensor must be float32, got ${source.dtype}`);
    }
    const data = await source.data();
    return new MomentAccumulator(source.shape[1]!).add(data).moments();
  }
  if (isMoments(source)) return source;
  if (typeof source === 'object' && source !== null && 'data' in source && 'dim' in source) {
    return new MomentAccumulator(source.dim).add(source.data).moments();
  }
  throw new MetricsError('bad-option', `${fn}: ${name} must be a [N, D] tensor, {data, dim}, a MomentAccumulator or {mean, covariance, dim}`);
}

/**
 * Fréchet distance between two feature sets: the 2-Wasserstein distance² between Gaussians fitted
 * to them, ‖μ1 − μ2‖² + tr Σ1 + tr Σ2 − 2·tr((Σ1 Σ2)^{1/2}). Feature extraction is the caller's; this
 * is not FID unless the features are Inception-v3 pool features.
 */
export async function frechetDistance(featuresA: FeatureSource, featuresB: FeatureSource): Promise<number> {
  const fn = 'frechetDistance';
  const a = await toMoments(fn, 'featuresA', featuresA);
  const b = await toMoments(fn, 'featuresB', featuresB);
  return frechetDistanceFromMoments(a, b);
}

function checkMoments(fn: string, name: string, m: GaussianMoments, dim: number): void {
  if (m.mean.length !== dim || m.covariance.length !== dim * dim) {
    throw new MetricsError(
      'bad-shape',
      `${fn}: ${name} must have mean [${dim}] and covariance [${dim}, ${dim}], got mean [${m.mean.length}] and ${m.covariance.length} covariance entries`,
    );
  }
  for (const values of [m.mean, m.covariance]) {
    for (let i = 0; i < values.length; i++) {
      if (!Number.isFinite(values[i]!)) throw new MetricsError('non-finite', `${fn}: ${name} moments must be finite, got ${values[i]}`);
    }
  }
}

/**
 * Fréchet distance from moments, all in float64. tr((Σ1 Σ2)^{1/2}) is computed as
 * Σ √λ_i(S Σ2 S) with S = Σ1^{1/2}, a symmetric PSD product with the same eigenvalues as Σ1 Σ2,
 * so no non-symmetric square root (and no complex round-off) is needed.
 */
export function frechetDistanceFromMoments(a: GaussianMoments, b: GaussianMoments): number {
  const fn = 'frechetDistanceFromMoments';
  const dim = a.dim;
  if (!Number.isSafeInteger(dim) || dim < 1 || b.dim !== dim) {
    throw new MetricsError('bad-shape', `${fn}: both feature sets must have the same dim ≥ 1, got ${a.dim} and ${b.dim}`);
  }
  checkMoments(fn, 'a', a, dim);
  checkMoments(fn, 'b', b, dim);

  let meanTerm = 0;
  for (let i = 0; i < dim; i++) meanTerm += (a.mean[i]! - b.mean[i]!) ** 2;
  let traceA = 0;
  let traceB = 0;
  for (let i = 0; i < dim; i++) {
    traceA += a.covariance[i * dim + i]!;
    traceB += b.covariance[i * dim + i]!;
  }

  const sqrtA = symmetricSqrt(symmetrised(a.covariance, dim), dim);
  const product = symmetrised(multiply(multiply(sqrtA, symmetrised(b.covariance, dim), dim), sqrtA, dim), dim);
  const { values } = symmetricEigen(product, dim, false);
  let traceSqrt = 0;
  // Eigenvalues of a PSD product that come out slightly negative are rounding of true zeros.
  for (const value of values) traceSqrt += Math.sqrt(Math.max(value, 0));
  return Math.max(0, meanTerm + traceA + traceB - 2 * traceSqrt);
}

function symmetrised(m: ArrayLike<number>, n: number): Float64Array {
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) out[i * n + j] = 0.5 * (m[i * n + j]! + m[j * n + i]!);
  }
  return out;
}

function multiply(x: Float64Array, y: Float64Array, n: number): Float64Array {
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < n; k++) {
      const xik = x[i * n + k]!;
      if (xik === 0) continue;
      for (let j = 0; j < n; j++) out[i * n + j] = out[i * n + j]! + xik * y[k * n + j]!;
    }
  }
  return out;
}

/** Principal square root of a symmetric PSD matrix: V diag(√max(λ, 0)) Vᵀ. */
function symmetricSqrt(m: Float64Array, n: number): Float64Array {
  const { values, vectors } = symmetricEigen(m, n, true);
  const v = vectors!;
  const out = new Float64Array(n * n);
  for (let k = 0; k < n; k++) {
    const root = Math.sqrt(Math.max(values[k]!, 0));
    if (root === 0) continue;
    for (let i = 0; i < n; i++) {
      const vik = v[i * n + k]! * root;
      for (let j = 0; j < n; j++) out[i * n + j] = out[i * n + j]! + vik * v[j * n + k]!;
    }
  }
  return out;
}
