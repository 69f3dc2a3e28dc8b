import { CodebookError } from './errors.js';

/*
 * Natural logarithm from +, −, ×, ÷ only (fdlibm-style reduction, Taylor series in s = g/(2+g)).
 * Math.log is implementation-approximated, so its last bit may differ between engines; this one
 * gives the same double everywhere (docs/algorithms.md §2.3).
 */

const LN2_HI = 0.6931471803691238;
const LN2_LO = 1.9082149292705877e-10;
const SQRT2 = 1.4142135623730951;
const TWO_POW_54 = 18014398509481984;

const COEF: readonly number[] = Array.from({ length: 12 }, (_, k) => 2 / (2 * k + 3));
const C0 = COEF[0]!;
const C1 = COEF[1]!;
const C2 = COEF[2]!;
const C3 = COEF[3]!;
const C4 = COEF[4]!;
const C5 = COEF[5]!;
const C6 = COEF[6]!;
const C7 = COEF[7]!;
const C8 = COEF[8]!;
const C9 = COEF[9]!;
const C10 = COEF[10]!;
const C11 = COEF[11]!;

let bitsView: DataView | undefined;

/** Deterministic natural log of a finite x > 0; throws `CodebookError('bad-argument')` otherwise. */
export function detLog(x: number): number {
  if (!(x > 0) || x === Infinity) {
    throw new CodebookError('bad-argument', `detLog: x must be finite and > 0, got ${x}`);
  }
  const view = (bitsView ??= new DataView(new ArrayBuffer(8)));
  view.setFloat64(0, x, true);
  let hi = view.getUint32(4, true);
  let biased = (hi >>> 20) & 0x7ff;
  let e: number;
  if (biased === 0) {
    // Subnormal: scale by 2^54 (exact) so the significand is normalised, then undo in e.
    view.setFloat64(0, x * TWO_POW_54, true);
    hi = view.getUint32(4, true);
    biased = (hi >>> 20) & 0x7ff;
    e = biased - 1023 - 54;
  } else {
    e = biased - 1023;
  }
  view.setUint32(4, ((hi & 0x000fffff) | 0x3ff00000) >>> 0, true);
  let f = view.getFloat64(0, true);
  if (f > SQRT2) {
    f = f * 0.5;
    e = e + 1;
  }
  const g = f - 1;
  const s = g / (2 + g);
  const z = s * s;
  const hfsq = 0.5 * g * g;
  let p = C11;
  p = p * z + C10;
  p = p * z + C9;
  p = p * z + C8;
  p = p * z + C7;
  p = p * z + C6;
  p = p * z + C5;
  p = p * z + C4;
  p = p * z + C3;
  p = p * z + C2;
  p = p * z + C1;
  p = p * z + C0;
  const r = z * p;
  return e * LN2_HI - ((hfsq - (s * (hfsq + r) + e * LN2_LO)) - g);
}
