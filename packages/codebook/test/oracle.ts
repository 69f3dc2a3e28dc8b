import { seededNormal, seededRandom } from '@gq/test-utils';

/**
 * Float64 brute-force oracle for the GQ selection rule in its direct form (docs/algorithms.md §3.1),
 * written independently of the inner-product form the package uses.
 */
export interface OracleResult {
  /** First index with the maximal score. */
  readonly best: number;
  readonly bestScore: number;
  /** Score of every codeword (length K). */
  readonly scores: Float64Array;
  /** Σ_k |a_k φ_{j*k}|: the magnitude scale of §3.5's float32 tolerance. */
  readonly scale: number;
}

export function oracleSearch(
  mu: ArrayLike<number>,
  logVar: ArrayLike<number> | null,
  row: number,
  values: ArrayLike<number>,
  size: number,
  dim: number,
  beta: number,
): OracleResult {
  const variance: number[] = [];
  const mean: number[] = [];
  for (let d = 0; d < dim; d++) {
    mean.push(mu[row * dim + d]!);
    const raw = logVar === null ? 0 : logVar[row * dim + d]!;
    variance.push(Math.exp(Math.min(20, Math.max(-30, raw))));
  }
  const scores = new Float64Array(size);
  let best = 0;
  let bestScore = -Infinity;
  for (let j = 0; j < size; j++) {
    let s = 0;
    for (let d = 0; d < dim; d++) {
      const c = values[j * dim + d]!;
      // ln N(c; μ, σ²) − β ln N(c; 0, 1) without the terms that do not depend on c.
      s += -((c - mean[d]!) ** 2) / (2 * variance[d]!) + (beta * c * c) / 2;
    }
    scores[j] = s;
    if (s > bestScore) {
      bestScore = s;
      best = j;
    }
  }
  let scale = 0;
  for (let d = 0; d < dim; d++) {
    const c = values[best * dim + d]!;
    scale += Math.abs(0.5 * (beta - 1 / variance[d]!) * c * c) + Math.abs((mean[d]! / variance[d]!) * c);
  }
  return { best, bestScore, scores, scale };
}

/**
 * True when `chosen` is the oracle's winner, or its oracle score is within `relTol·(1 + scale)` of
 * the best (a near-tie that the arithmetic of the path under test cannot resolve).
 */
export function acceptable(result: OracleResult, chosen: number, relTol: number): boolean {
  if (chosen === result.best) return true;
  if (!(chosen >= 0 && chosen < result.scores.length)) return false;
  return result.bestScore - result.scores[chosen]! <= relTol * (1 + result.scale);
}

/** μ ~ N(0, 1), σ log-uniform in [0.01, 3]; row 0 has μ = 0, row 1 has σ = 1, row 2 has σ > 1. */
export function makeQueries(rows: number, dim: number, seed: number): { mu: Float32Array; logVar: Float32Array } {
  const normal = seededNormal(seed);
  const uniform = seededRandom(seed + 1);
  const mu = new Float32Array(rows * dim);
  const logVar = new Float32Array(rows * dim);
  for (let i = 0; i < rows * dim; i++) {
    mu[i] = normal();
    logVar[i] = 2 * Math.log(0.01 * 300 ** uniform());
  }
  for (let d = 0; d < dim && rows >= 3; d++) {
    mu[d] = 0;
    logVar[dim + d] = 0;
    logVar[2 * dim + d] = 2 * Math.log(1.5 + d / dim);
  }
  return { mu, logVar };
}
