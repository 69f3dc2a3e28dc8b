/**
 * erfc(z) for z ≥ 0 in float64, as an oracle independent of any fit: 1 − erf by its Taylor series
 * for z < 2, the continued fraction erfc(z) = e^{−z²}/√π · 1/(z + (1/2)/(z + 1/(z + …))) evaluated
 * backwards from 200 terms above (both converged in float64; the fraction keeps the tail's
 * relative precision).
 */
export function erfc(z: number): number {
  if (z < 2) {
    let term = z;
    let sum = z;
    for (let n = 1; n < 200; n++) {
      term *= (-z * z) / n;
      sum += term / (2 * n + 1);
    }
    return 1 - (2 / Math.sqrt(Math.PI)) * sum;
  }
  let f = z;
  for (let n = 200; n >= 1; n--) f = z + n / 2 / f;
  return Math.exp(-z * z) / Math.sqrt(Math.PI) / f;
}

/** Φ(x), the standard normal CDF, in float64 (no cancellation in the lower tail). */
export function normalCdf(x: number): number {
  const h = erfc(Math.abs(x) * Math.SQRT1_2) / 2;
  return x >= 0 ? 1 - h : h;
}
