import { allocateFloat32, checkSeed } from './checks.js';
import { CodebookError } from './errors.js';
import { Mt19937 } from './mt19937.js';
import { ndtri } from './ndtri.js';
import { SOBOL_DIMENSIONS, parity32, sobolDirections } from './sobol-directions.js';

/*
 * The reference implementation's codebook: Φ⁻¹ of torch's scrambled Sobol points,
 *
 *     prior_samples(K, m, seed) = scipy.stats.norm.ppf(SobolEngine(m, scramble=True, seed=seed).draw(K))
 *
 * cast to float32, reproduced step by step from torch's and SciPy's definitions:
 * 1. `torch.Generator().manual_seed(seed)`: MT19937 (./mt19937.ts).
 * 2. `torch.randint(2, …)` takes each word modulo 2 in row-major order: first an [m, 30] shift
 *    matrix (bit b of dimension d's 30-bit shift), then [m, 30, 30] matrices of which only the
 *    lower triangle is kept, the diagonal forced to 1.
 * 3. Scrambling: row p of dimension d's matrix, read as a 30-bit number with column c at bit 29 − c,
 *    gives bit 29 − p of every scrambled direction number: the parity of (row AND direction).
 * 4. The state starts at the shift (point 0 is the shift, not the origin); point i ≥ 1 XORs in the
 *    scrambled direction number at the lowest zero bit of i − 1 (Gray-code order).
 * 5. `draw` returns each 30-bit state converted to float32 (rounded to nearest even) times 2^−30;
 *    `norm.ppf` maps 0 to −∞, 1 to +∞ and anything else through SciPy's float64 `ndtri`; the module
 *    rounds the result to float32.
 */

/** Bits of torch's Sobol state (`SobolEngine.MAXBIT`). */
export const TORCH_SOBOL_BITS = 30;
/** The largest K torch's 30-bit state can draw without running past its direction numbers. */
export const TORCH_SOBOL_MAX_SIZE = 2 ** TORCH_SOBOL_BITS;
/** Dimensions with direction numbers in this package: 32 (torch has 21 201; codebooks use m ≤ 32). */
export const TORCH_SOBOL_MAX_DIM = SOBOL_DIMENSIONS;

const SCALE = 2 ** -TORCH_SOBOL_BITS;

/** torch's scrambled Sobol engine state for m dimensions: what `SobolEngine(m, scramble=True, seed)` holds. */
export interface TorchSobolState {
  /** [m·30]: scrambled direction number b of dimension d at d·30 + b (30-bit, MSB at bit 29). */
  readonly directions: Uint32Array;
  /** [m]: the random shift of each dimension, which is also point 0. */
  readonly shift: Uint32Array;
}

function checkDim(fn: string, dim: number): void {
  if (typeof dim !== 'number' || !Number.isInteger(dim) || dim < 1 || dim > TORCH_SOBOL_MAX_DIM) {
    throw new CodebookError('bad-dim', `${fn}: dim m must be an integer in [1, ${TORCH_SOBOL_MAX_DIM}], got ${dim}`);
  }
}

/**
 * The scrambled direction numbers and shift of torch's `SobolEngine(dim, scramble=True, seed=seed)`.
 * @throws CodebookError `bad-dim`, `bad-seed`.
 */
export function torchSobolState(dim: number, seed: number): TorchSobolState {
  const fn = 'torchSobolState';
  checkDim(fn, dim);
  checkSeed(fn, seed);
  const bits = TORCH_SOBOL_BITS;
  const random = new Mt19937(seed);
  const shift = new Uint32Array(dim);
  for (let d = 0; d < dim; d++) {
    let value = 0;
    for (let b = 0; b < bits; b++) value |= (random.next() & 1) << b;
    shift[d] = value;
  }
  const directions = new Uint32Array(dim * bits);
  const rows = new Uint32Array(bits);
  for (let d = 0; d < dim; d++) {
    for (let p = 0; p < bits; p++) {
      let row = 0;
      for (let c = 0; c < bits; c++) {
        // Every entry is drawn; tril() keeps c < p, and the diagonal is set to 1 afterwards.
        const bit = random.next() & 1;
        if (c < p && bit) row |= 1 << (bits - 1 - c);
      }
      rows[p] = row | (1 << (bits - 1 - p));
    }
    // The package's Sobol directions are 32-bit, MSB-aligned; torch keeps the top 30 bits.
    const plain = sobolDirections(d);
    for (let j = 0; j < bits; j++) {
      const v = plain[j]! >>> (32 - bits);
      let scrambled = 0;
      for (let p = 0; p < bits; p++) scrambled |= parity32(rows[p]! & v) << (bits - 1 - p);
      directions[d * bits + j] = scrambled;
    }
  }
  return { directions, shift };
}

/** Writes rows 0..K−1 of the reference table into `out` ([K·m], row-major). */
export function fillTorchSobol(out: Float32Array, size: number, dim: number, seed: number): void {
  const { directions, shift } = torchSobolState(dim, seed);
  const bits = TORCH_SOBOL_BITS;
  const point = Uint32Array.from(shift);
  for (let i = 0; i < size; i++) {
    if (i > 0) {
      // Lowest zero bit of i − 1 = lowest set bit of i.
      const low = 31 - Math.clz32(i & -i);
      for (let d = 0; d < dim; d++) point[d] = point[d]! ^ directions[d * bits + low]!;
    }
    const row = i * dim;
    for (let d = 0; d < dim; d++) {
      const u = Math.fround(point[d]!) * SCALE;
      out[row + d] = ndtri(u);
    }
  }
}

/**
 * The reference implementation's codebook table for any K it accepts: rows 0..K−1 of torch's
 * scrambled Sobol sequence through SciPy's Φ⁻¹, float32, bit for bit (`createCodebook` with
 * `method: 'torch-sobol'` wraps the same table for power-of-two K). A point whose coordinate rounds to
 * 0 or 1 in float32 gives −∞ or +∞, as in the reference.
 *
 * @param size K, an integer in [1, 2^30] (first rows of a larger table equal a smaller one)
 * @param dim m, an integer in [1, 32]
 * @param seed the reference's `seed` (default 42), an integer in [0, 2^32)
 * @returns Float32Array [K·m], row-major (row k = codeword k)
 * @throws CodebookError `bad-size`, `bad-dim`, `bad-seed`, `too-large`.
 */
export function torchSobolTable(size: number, dim: number, seed = 42): Float32Array {
  const fn = 'torchSobolTable';
  if (typeof size !== 'number' || !Number.isInteger(size) || size < 1 || size > TORCH_SOBOL_MAX_SIZE) {
    throw new CodebookError('bad-size', `${fn}: size K must be an integer in [1, 2^${TORCH_SOBOL_BITS}], got ${size}`);
  }
  checkDim(fn, dim);
  checkSeed(fn, seed);
  const out = allocateFloat32(fn, size * dim);
  fillTorchSobol(out, size, dim, seed);
  return out;
}
