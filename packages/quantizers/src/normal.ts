/*
 * Standard-normal functions in float64 for TokenBridge's tables. They are computed once per bit
 * width on the CPU; cross-engine bit-exactness is not needed here because the float32 tables, not
 * these doubles, define the indices.
 */

const INV_SQRT_2PI = 0.3989422804014327;

/** φ(x), the standard-normal density. */
export function normalPdf(x: number): number {
  return INV_SQRT_2PI * Math.exp(-0.5 * x * x);
}

/**
 * Q(x) = 1 − Φ(x) for x ≥ 0. Below 3 it uses Φ(x) − ½ = φ(x)·Σ x^{2n+1}/(2n+1)!! (all terms
 * positive, so no cancellation inside the series); from 3 on the Laplace continued fraction
 * Q(x) = φ(x)/(x + 1/(x + 2/(x + …))), which avoids the 1 − Φ cancellation in the tail.
 */
function upperTail(x: number): number {
  if (x === Infinity) return 0;
  if (x < 3) {
    let term = x;
    let sum = x;
    for (let n = 1; n < 500 && Math.abs(term) > 1e-17 * Math.abs(sum); n++) {
      term *= (x * x) / (2 * n + 1);
      sum += term;
    }
    return 0.5 - normalPdf(x) * sum;
  }
  // Modified Lentz evaluation of the continued fraction.
  const tiny = 1e-300;
  let f = x;
  let c = x;
  let d = 0;
  for (let k = 1; k < 500; k++) {
    d = x + k * d;
    d = d === 0 ? tiny : d;
    c = x + k / c;
    c = c === 0 ? tiny : c;
    d = 1 / d;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return normalPdf(x) / f;
}

/** Φ(x). */
export function normalCdf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  return x < 0 ? upperTail(-x) : 1 - upperTail(x);
}

/** Probability of [a, b] under N(0, 1), with Q(a) − Q(b) on the positive side (no cancellation). */
export function normalMass(a: number, b: number): number {
  if (a >= 0) return upperTail(a) - upperTail(b);
  if (b <= 0) return upperTail(-b) - upperTail(-a);
  return 1 - upperTail(-a) - upperTail(b);
}

const A = [3.3871328727963665, 133.14166789178438, 1971.5909503065513, 13731.69376550946, 45921.95393154987, 67265.7709270087, 33430.57558358813, 2509.0809287301227];
const B = [1, 42.31333070160091, 687.1870074920579, 5394.196021424751, 21213.794301586597, 39307.89580009271, 28729.085735721943, 5226.495278852854];
const C = [1.4234371107496835, 4.630337846156546, 5.769497221460691, 3.6478483247632045, 1.2704582524523684, 0.2417807251774506, 0.022723844989269184, 0.0007745450142783414];
const D = [1, 2.053191626637759, 1.6763848301838038, 0.6897673349851, 0.14810397642748008, 0.015198666563616457, 0.0005475938084995345, 1.0507500716444169e-9];
const E = [6.657904643501103, 5.463784911164114, 1.7848265399172913, 0.29656057182850487, 0.026532189526576124, 0.0012426609473880784, 2.7115555687434876e-5, 2.0103343992922881e-7];
const F = [1, 0.599832206555888, 0.1369298809227358, 0.014875361290850615, 0.0007868691311456133, 1.8463183175100548e-5, 1.421511758316446e-7, 2.0442631033899397e-15];

function horner(c: readonly number[], r: number): number {
  let p = c[7]!;
  for (let k = 6; k >= 0; k--) p = p * r + c[k]!;
  return p;
}

/** Φ⁻¹(p) by Wichura's AS 241 (relative accuracy ~1e-16); ±∞ at p = 0 and 1. */
export function normalQuantile(p: number): number {
  if (p <= 0) return -Infinity;
  if (p >= 1) return Infinity;
  const q = p - 0.5;
  if (Math.abs(q) <= 0.425) {
    const r = 0.180625 - q * q;
    return (q * horner(A, r)) / horner(B, r);
  }
  let r = Math.sqrt(-Math.log(q < 0 ? p : 1 - p));
  let v: number;
  if (r <= 5) {
    r -= 1.6;
    v = horner(C, r) / horner(D, r);
  } else {
    r -= 5;
    v = horner(E, r) / horner(F, r);
  }
  return q < 0 ? -v : v;
}
