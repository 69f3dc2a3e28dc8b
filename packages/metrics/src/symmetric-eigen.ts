import { MetricsError } from './errors.js';

const MAX_SWEEPS = 60;

export interface SymmetricEigen {
  /** Eigenvalues in the order of the diagonal after convergence (unsorted). */
  readonly values: Float64Array;
  /** Eigenvectors as the columns of a row-major n×n matrix, or null when not requested. */
  readonly vectors: Float64Array | null;
}

/**
 * Eigen-decomposition of a symmetric n×n matrix (row-major, float64) by cyclic Jacobi rotations.
 * Chosen over faster tridiagonal methods for its accuracy on the nearly singular covariance
 * products of a Fréchet distance: each rotation is orthogonal, so small eigenvalues keep a small
 * absolute error. O(n³) per sweep, typically 6–10 sweeps.
 */
export function symmetricEigen(matrix: Float64Array, n: number, wantVectors: boolean): SymmetricEigen {
  if (matrix.length !== n * n) {
    throw new MetricsError('bad-shape', `symmetricEigen: matrix must have ${n}×${n} = ${n * n} entries, got ${matrix.length}`);
  }
  const a = Float64Array.from(matrix);
  const v = wantVectors ? new Float64Array(n * n) : null;
  if (v !== null) for (let i = 0; i < n; i++) v[i * n + i] = 1;
  let scale = 0;
  for (let i = 0; i < a.length; i++) scale = Math.max(scale, Math.abs(a[i]!));
  // Off-diagonal entries below this are rounding noise of the largest entry.
  const absoluteFloor = scale * Number.EPSILON * 1e-3;

  for (let sweep = 0; sweep < MAX_SWEEPS; sweep++) {
    let rotations = 0;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q]!;
        const app = a[p * n + p]!;
        const aqq = a[q * n + q]!;
        // Relative test: skipping |a_pq| ≤ ε/2·√|a_pp a_qq| changes no eigenvalue beyond rounding.
        if (Math.abs(apq) <= absoluteFloor || Math.abs(apq) <= 0.5 * Number.EPSILON * Math.sqrt(Math.abs(app * aqq))) {
          a[p * n + q] = 0;
          a[q * n + p] = 0;
          continue;
        }
        rotations++;
        const theta = (aqq - app) / (2 * apq);
        // t = tan φ, the smaller root of t² + 2θt − 1 = 0 (|φ| ≤ π/4), written to avoid overflow.
        const t = Math.abs(theta) > 1e150
          ? 1 / (2 * theta)
          : Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k * n + p]!;
          const akq = a[k * n + q]!;
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p * n + k]!;
          const aqk = a[q * n + k]!;
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
        a[p * n + q] = 0;
        a[q * n + p] = 0;
        if (v !== null) {
          for (let k = 0; k < n; k++) {
            const vkp = v[k * n + p]!;
            const vkq = v[k * n + q]!;
            v[k * n + p] = c * vkp - s * vkq;
            v[k * n + q] = s * vkp + c * vkq;
          }
        }
      }
    }
    if (rotations === 0) {
      const values = new Float64Array(n);
      for (let i = 0; i < n; i++) values[i] = a[i * n + i]!;
      return { values, vectors: v };
    }
  }
  throw new MetricsError('no-convergence', `symmetricEigen: Jacobi did not converge in ${MAX_SWEEPS} sweeps for n=${n} (non-finite entries?)`);
}
