import { detLog } from './det-log.js';

/*
 * Inverse standard-normal CDF as SciPy evaluates it (`scipy.special.ndtri`, from Moshier's Cephes
 * library, which `scipy.stats.norm.ppf` calls): the same rational approximations, coefficients
 * and order of float64 operations, so that, rounded to float32, it reproduces SciPy's values.
 * The logarithm is the package's deterministic `detLog`, not `Math.log`, whose last bit is up to
 * the engine; the tests compare the float32 results with SciPy's over every input the Sobol
 * codebooks can produce.
 */

/** √(2π). */
const SQRT_TWO_PI = 2.50662827463100050242;
/** e^−2: below it (and above 1 − e^−2) the tail expansion in z = √(−2 ln y) is used. */
const EXP_MINUS_TWO = 0.13533528323661269189;

/** Central region 0 ≤ |y − ½| ≤ 3/8: numerator in (y − ½)². */
const P0 = [
  -5.99633501014107895267e1, 9.80010754185999661536e1, -5.66762857469070293439e1, 1.39312609387279679503e1,
  -1.23916583867381258016,
] as const;
/** Central region: denominator, leading coefficient 1 implied. */
const Q0 = [
  1.95448858338141759834, 4.67627912898881538453, 8.63602421390890590575e1, -2.25462687854119370527e2,
  2.00260212380060660359e2, -8.20372256168333339912e1, 1.59056225126211695515e1, -1.18331621121330003142,
] as const;
/** Tail 2 ≤ z < 8 (e^−32 < y ≤ e^−2): numerator in 1/z. */
const P1 = [
  4.05544892305962419923, 3.15251094599893866154e1, 5.71628192246421288162e1, 4.408050738932008347e1,
  1.46849561928858024014e1, 2.18663306850790267539, -1.40256079171354495875e-1, -3.50424626827848203418e-2,
  -8.57456785154685413611e-4,
] as const;
/** Tail 2 ≤ z < 8: denominator, leading coefficient 1 implied. */
const Q1 = [
  1.57799883256466749731e1, 4.53907635128879210584e1, 4.1317203825467203044e1, 1.50425385692907503408e1,
  2.50464946208309415979, -1.42182922854787788574e-1, -3.80806407691578277194e-2, -9.33259480895457427372e-4,
] as const;
/** Tail z ≥ 8 (y ≤ e^−32): numerator in 1/z. */
const P2 = [
  3.2377489177694603597, 6.91522889068984211695, 3.93881025292474443415, 1.33303460815807542389,
  2.01485389549179081538e-1, 1.23716634817820021358e-2, 3.01581553508235416007e-4, 2.65806974686737550832e-6,
  6.2397453918498329373e-9,
] as const;
/** Tail z ≥ 8: denominator, leading coefficient 1 implied. */
const Q2 = [
  6.02427039364742014255, 3.67983563856160859403, 1.37702099489081330271, 2.1623699359449663589e-1,
  1.34204006088543189037e-2, 3.28014464682127739104e-4, 2.89247864745380683936e-6, 6.79019408009981274425e-9,
] as const;

/** Horner's rule from the highest coefficient down: c₀xⁿ + … + cₙ. */
function polynomial(x: number, coefficients: readonly number[]): number {
  let sum = coefficients[0]!;
  for (let k = 1; k < coefficients.length; k++) sum = sum * x + coefficients[k]!;
  return sum;
}

/** As `polynomial`, with an implied leading coefficient 1: xⁿ + c₀xⁿ⁻¹ + … + cₙ₋₁. */
function monicPolynomial(x: number, coefficients: readonly number[]): number {
  let sum = x + coefficients[0]!;
  for (let k = 1; k < coefficients.length; k++) sum = sum * x + coefficients[k]!;
  return sum;
}

/**
 * Φ⁻¹(y) in float64, SciPy's `ndtri`: −∞ at 0, +∞ at 1, NaN outside [0, 1].
 * @param y probability
 */
export function ndtri(y: number): number {
  if (y === 0) return -Infinity;
  if (y === 1) return Infinity;
  if (!(y > 0 && y < 1)) return Number.NaN;
  let negate = true;
  let tail = y;
  if (tail > 1 - EXP_MINUS_TWO) {
    tail = 1 - tail;
    negate = false;
  }
  if (tail > EXP_MINUS_TWO) {
    const w = tail - 0.5;
    const w2 = w * w;
    const x = w + w * ((w2 * polynomial(w2, P0)) / monicPolynomial(w2, Q0));
    return x * SQRT_TWO_PI;
  }
  const z = Math.sqrt(-2 * detLog(tail));
  const leading = z - detLog(z) / z;
  const inverse = 1 / z;
  const correction = z < 8
    ? (inverse * polynomial(inverse, P1)) / monicPolynomial(inverse, Q1)
    : (inverse * polynomial(inverse, P2)) / monicPolynomial(inverse, Q2);
  const x = leading - correction;
  return negate ? -x : x;
}
