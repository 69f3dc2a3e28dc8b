import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { seededNormal, seededRandom, setupBackend } from '@gq/test-utils';
import { MetricsError, MomentAccumulator, frechetDistance, frechetDistanceFromMoments, type GaussianMoments } from '@gq/metrics';
import { symmetricEigen } from '@gq/metrics/internal';

beforeAll(async () => {
  await setupBackend('cpu');
});

// ---- float64 oracles, independent of the package's Jacobi path ----

function matmul(a: Float64Array, b: Float64Array, n: number): Float64Array {
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
    let s = 0;
    for (let k = 0; k < n; k++) s += a[i * n + k]! * b[k * n + j]!;
    out[i * n + j] = s;
  }
  return out;
}

function inverse(a: Float64Array, n: number): Float64Array {
  const m = Float64Array.from(a);
  const inv = new Float64Array(n * n);
  for (let i = 0; i < n; i++) inv[i * n + i] = 1;
  for (let col = 0; col < n; col++) {
    let pivot = col;
    for (let r = col + 1; r < n; r++) if (Math.abs(m[r * n + col]!) > Math.abs(m[pivot * n + col]!)) pivot = r;
    for (const arr of [m, inv]) for (let k = 0; k < n; k++) {
      const t = arr[col * n + k]!;
      arr[col * n + k] = arr[pivot * n + k]!;
      arr[pivot * n + k] = t;
    }
    const p = m[col * n + col]!;
    for (let k = 0; k < n; k++) {
      m[col * n + k] = m[col * n + k]! / p;
      inv[col * n + k] = inv[col * n + k]! / p;
    }
    for (let r = 0; r < n; r++) {
      if (r === col) continue;
      const f = m[r * n + col]!;
      for (let k = 0; k < n; k++) {
        m[r * n + k] = m[r * n + k]! - f * m[col * n + k]!;
        inv[r * n + k] = inv[r * n + k]! - f * inv[col * n + k]!;
      }
    }
  }
  return inv;
}

/** tr √(Σ1Σ2) by the Denman–Beavers iteration on the non-symmetric product. */
function traceSqrtDenmanBeavers(s1: Float64Array, s2: Float64Array, n: number): number {
  let y = matmul(s1, s2, n);
  let z = new Float64Array(n * n);
  for (let i = 0; i < n; i++) z[i * n + i] = 1;
  for (let it = 0; it < 60; it++) {
    const yInv = inverse(y, n);
    const zInv = inverse(z, n);
    y = y.map((v, i) => 0.5 * (v + zInv[i]!));
    z = z.map((v, i) => 0.5 * (v + yInv[i]!));
  }
  let t = 0;
  for (let i = 0; i < n; i++) t += y[i * n + i]!;
  return t;
}

/** Naive two-pass mean and unbiased covariance. */
function momentsOracle(data: Float64Array, dim: number): GaussianMoments {
  const rows = data.length / dim;
  const mean = new Float64Array(dim);
  for (let r = 0; r < rows; r++) for (let j = 0; j < dim; j++) mean[j] = mean[j]! + data[r * dim + j]! / rows;
  const covariance = new Float64Array(dim * dim);
  for (let r = 0; r < rows; r++) for (let i = 0; i < dim; i++) for (let j = 0; j < dim; j++) {
    covariance[i * dim + j] = covariance[i * dim + j]! + ((data[r * dim + i]! - mean[i]!) * (data[r * dim + j]! - mean[j]!)) / (rows - 1);
  }
  return { dim, count: rows, mean, covariance };
}

/** Correlated Gaussian features x = A·n + shift. */
function gaussianFeatures(rows: number, dim: number, seed: number, shift: number): Float64Array {
  const normal = seededNormal(seed);
  const mix = Float64Array.from({ length: dim * dim }, () => normal() / Math.sqrt(dim));
  const out = new Float64Array(rows * dim);
  const noise = new Float64Array(dim);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < dim; j++) noise[j] = normal();
    for (let i = 0; i < dim; i++) {
      let s = shift + 0.1 * i;
      for (let j = 0; j < dim; j++) s += mix[i * dim + j]! * noise[j]!;
      out[r * dim + i] = s;
    }
  }
  return out;
}

describe('symmetricEigen', () => {
  it('reconstructs a random symmetric matrix: V diag(λ) Vᵀ = A and VᵀV = I', () => {
    const n = 12;
    const rand = seededRandom(1);
    const a = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = i; j < n; j++) a[i * n + j] = a[j * n + i] = rand() * 2 - 1;
    const { values, vectors } = symmetricEigen(a, n, true);
    const v = vectors!;
    let worst = 0;
    let worstOrtho = 0;
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
      let s = 0;
      let o = 0;
      for (let k = 0; k < n; k++) {
        s += v[i * n + k]! * values[k]! * v[j * n + k]!;
        o += v[k * n + i]! * v[k * n + j]!;
      }
      worst = Math.max(worst, Math.abs(s - a[i * n + j]!));
      worstOrtho = Math.max(worstOrtho, Math.abs(o - (i === j ? 1 : 0)));
    }
    // Orthogonal rotations: backward error a few ε·‖A‖.
    expect(worst).toBeLessThan(1e-13);
    expect(worstOrtho).toBeLessThan(1e-13);
  });

  it('2×2 eigenvalues equal the closed form', () => {
    const { values } = symmetricEigen(Float64Array.from([2, 1, 1, 3]), 2, false);
    const sorted = Array.from(values).sort((x, y) => x - y);
    expect(sorted[0]).toBeCloseTo((5 - Math.sqrt(5)) / 2, 14);
    expect(sorted[1]).toBeCloseTo((5 + Math.sqrt(5)) / 2, 14);
  });
});

describe('MomentAccumulator', () => {
  it('streaming (uneven batches) and merged equal the one-shot two-pass oracle', () => {
    const dim = 6;
    const data = gaussianFeatures(1000, dim, 2, 1000);
    const want = momentsOracle(data, dim);
    const streamed = new MomentAccumulator(dim);
    for (let r = 0; r < 1000; r += 37) streamed.add(data.subarray(r * dim, Math.min(1000, r + 37) * dim));
    const left = new MomentAccumulator(dim).add(data.subarray(0, 400 * dim));
    const right = new MomentAccumulator(dim).add(data.subarray(400 * dim));
    const oneShot = new MomentAccumulator(dim).add(data);
    for (const acc of [streamed, left.merge(right), oneShot]) {
      const got = acc.moments();
      expect(got.count).toBe(1000);
      // Offset 1000 with unit spread: float64 mean error ~1e-13, covariance ~1e-12 relative.
      for (let j = 0; j < dim; j++) expect(Math.abs(got.mean[j]! - want.mean[j]!)).toBeLessThan(1e-10);
      for (let k = 0; k < dim * dim; k++) expect(Math.abs(got.covariance[k]! - want.covariance[k]!)).toBeLessThan(1e-10);
    }
    expect(oneShot.covariance(0)[0]! * 1000).toBeCloseTo(oneShot.covariance(1)[0]! * 999, 8);
  });
});

describe('frechetDistance', () => {
  it('is 0 for identical feature sets', async () => {
    const data = gaussianFeatures(500, 10, 3, 0.5);
    const fd = await frechetDistance({ data, dim: 10 }, { data, dim: 10 });
    // Trace of Σ is ~10; the eigen path is accurate to ~1e-14 relative.
    expect(fd).toBeLessThan(1e-11);
  });

  it('2×2 closed form: tr √(Σ1Σ2) = √(tr(Σ1Σ2) + 2√det(Σ1Σ2))', () => {
    const a: GaussianMoments = { dim: 2, count: 10, mean: Float64Array.from([0, 1]), covariance: Float64Array.from([2, 0.5, 0.5, 1]) };
    const b: GaussianMoments = { dim: 2, count: 10, mean: Float64Array.from([1, -1]), covariance: Float64Array.from([1, -0.3, -0.3, 0.7]) };
    const p = matmul(a.covariance, b.covariance, 2);
    const trP = p[0]! + p[3]!;
    const detP = p[0]! * p[3]! - p[1]! * p[2]!;
    const want = 1 + 4 + 3 + 1.7 - 2 * Math.sqrt(trP + 2 * Math.sqrt(detP));
    expect(Math.abs(frechetDistanceFromMoments(a, b) - want)).toBeLessThan(1e-13);
  });

  it('diagonal covariances: Σ (√a_i − √b_i)² plus the mean term', () => {
    const dim = 5;
    const diag = (values: number[]) => {
      const m = new Float64Array(dim * dim);
      values.forEach((v, i) => (m[i * dim + i] = v));
      return m;
    };
    const va = [1, 2, 0.5, 4, 0];
    const vb = [2, 2, 0.1, 1, 3];
    const a: GaussianMoments = { dim, count: 2, mean: new Float64Array(dim), covariance: diag(va) };
    const b: GaussianMoments = { dim, count: 2, mean: new Float64Array(dim).fill(0.5), covariance: diag(vb) };
    const want = 0.25 * dim + va.reduce((s, v, i) => s + (Math.sqrt(v) - Math.sqrt(vb[i]!)) ** 2, 0);
    expect(Math.abs(frechetDistanceFromMoments(a, b) - want)).toBeLessThan(1e-13);
  });

  it('matches a Denman–Beavers float64 oracle on random correlated Gaussians (tensor input)', async () => {
    const dim = 8;
    const dataA = gaussianFeatures(400, dim, 4, 0);
    const dataB = gaussianFeatures(300, dim, 5, 0.3);
    const ma = momentsOracle(dataA, dim);
    const mb = momentsOracle(dataB, dim);
    let meanTerm = 0;
    let traces = 0;
    for (let i = 0; i < dim; i++) {
      meanTerm += (ma.mean[i]! - mb.mean[i]!) ** 2;
      traces += ma.covariance[i * dim + i]! + mb.covariance[i * dim + i]!;
    }
    const want = meanTerm + traces - 2 * traceSqrtDenmanBeavers(ma.covariance, mb.covariance, dim);
    expect(want).toBeGreaterThan(0.5);
    // Float64 throughout; the tensor path sees float32 features (relative 6e-8 per value).
    expect(Math.abs(frechetDistanceFromMoments(ma, mb) - want)).toBeLessThan(1e-10);
    const ta = tf.tensor2d(Float32Array.from(dataA), [400, dim]);
    const tb = tf.tensor2d(Float32Array.from(dataB), [300, dim]);
    const fromTensors = await frechetDistance(ta, tb);
    tf.dispose([ta, tb]);
    expect(Math.abs(fromTensors - want)).toBeLessThan(1e-5);
    const accA = new MomentAccumulator(dim).add(dataA.subarray(0, 100 * dim)).add(dataA.subarray(100 * dim));
    const streamed = await frechetDistance(accA, new MomentAccumulator(dim).add(dataB));
    expect(Math.abs(streamed - want)).toBeLessThan(1e-10);
  });

  it('rejects dim mismatch, bad tensors, ragged features, too few samples and non-finite values', async () => {
    const a = new MomentAccumulator(3).add([1, 2, 3, 4, 5, 6]);
    const b = new MomentAccumulator(2).add([1, 2, 3, 4]);
    await expect(frechetDistance(a, b)).rejects.toBeInstanceOf(MetricsError);
    const t3 = tf.zeros([2, 3, 1]);
    await expect(frechetDistance(t3, a)).rejects.toThrow('frechetDistance: featuresA tensor must have shape [N, D], got [2,3,1]');
    tf.dispose(t3);
    expect(() => new MomentAccumulator(3).add([1, 2])).toThrow(MetricsError);
    expect(() => new MomentAccumulator(2).add([1, 2]).covariance()).toThrow('needs more than 1 feature vectors, got 1');
    expect(() => new MomentAccumulator(2).add([1, NaN])).toThrow(MetricsError);
  });
});
