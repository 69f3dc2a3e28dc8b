import { allocateFloat32, checkSeed } from './checks.js';
import { CodebookError } from './errors.js';
import { philox4x32, uniformFromWords } from './philox.js';
import { ppnd16 } from './ppnd.js';
import { parity32, sobolDirections } from './sobol-directions.js';
import { TORCH_SOBOL_MAX_SIZE, fillTorchSobol } from './torch-sobol.js';

/**
 * How a codebook's table was made. `'normal'` and `'sobol'`: this package's portable generators
 * (docs/algorithms.md §2); `'torch-sobol'`: the reference implementation's own table (torch's scrambled
 * Sobol sequence through SciPy's Φ⁻¹), bit for bit; `'table'`: values supplied by the caller
 * (`codebookFromValues`).
 */
export type CodebookMethod = 'normal' | 'sobol' | 'torch-sobol' | 'table';

/** The generated methods: every `CodebookMethod` but `'table'`. */
export type GeneratedCodebookMethod = Exclude<CodebookMethod, 'table'>;

/** The generator version this package implements (docs/algorithms.md §2). */
export const CODEBOOK_VERSION = 1;

/**
 * A K×m codebook. `values` is row-major float32 (codeword i at `i·dim .. i·dim + dim − 1`).
 * Treat `values` as read-only: generated codebooks are cached and shared, and search paths cache
 * features derived from them per codebook object.
 */
export interface Codebook {
  readonly values: Float32Array;
  /** K, a power of two. */
  readonly size: number;
  /** m, dimensions per codeword. */
  readonly dim: number;
  readonly method: CodebookMethod;
  /** Generator seed; null for `'table'` codebooks. */
  readonly seed: number | null;
  /** Generator version; null for `'table'` codebooks. */
  readonly version: number | null;
}

/** What a tokenizer manifest stores to regenerate a codebook bit-exactly. */
export interface CodebookSpec {
  /** K: a power of two in [2, 2^31]. */
  readonly size: number;
  /** m: 1..32. */
  readonly dim: number;
  /** Integer in [0, 2^32), default 42 (the reference implementation's). */
  readonly seed?: number;
  /**
   * Default `'sobol'` (the reference implementation's construction, generated portably);
   * `'torch-sobol'` gives the reference's exact table, so its checkpoints emit the reference's
   * token ids (K at most 2^30).
   */
  readonly method?: GeneratedCodebookMethod;
  /** Generator version, default and only supported value 1. */
  readonly version?: number;
}

const MAX_SIZE = 2 ** 31;
const MAX_DIM = 32;
const KEY_TAG = 0x47510000;

function isPowerOfTwo(k: number): boolean {
  if (!Number.isInteger(k) || k < 1 || k > MAX_SIZE) return false;
  let p = 1;
  while (p < k) p *= 2;
  return p === k;
}

/** Validates K (power of two in [2, 2^31]) and m (integer in [1, 32]). */
export function checkSizeAndDim(fn: string, size: number, dim: number): void {
  if (typeof size !== 'number' || !isPowerOfTwo(size) || size < 2) {
    throw new CodebookError('bad-size', `${fn}: size K must be a power of two in [2, 2^31], got ${size}`);
  }
  if (typeof dim !== 'number' || !Number.isInteger(dim) || dim < 1 || dim > MAX_DIM) {
    throw new CodebookError('bad-dim', `${fn}: dim m must be an integer in [1, ${MAX_DIM}], got ${dim}`);
  }
}

/** Fills `out` (length K·m) with i.i.d. N(0,1) draws: entry n uses Philox counter [n mod 2^32, ⌊n/2^32⌋, 0, 0]. */
function fillNormal(out: Float32Array, seed: number, version: number): void {
  const words = new Uint32Array(4);
  const key1 = (KEY_TAG | version) >>> 0;
  for (let n = 0; n < out.length; n++) {
    philox4x32(n >>> 0, Math.floor(n / 4294967296), 0, 0, seed, key1, words);
    out[n] = Math.fround(ppnd16(uniformFromWords(words[0]!, words[1]!)));
  }
}

/** Scrambled Sobol points mapped through Φ⁻¹ (docs/algorithms.md §2.5), natural order, dimension by dimension. */
function fillSobol(out: Float32Array, size: number, dim: number, seed: number, version: number): void {
  const words = new Uint32Array(4);
  const key1 = (KEY_TAG | version) >>> 0;
  const points = new Uint32Array(size);
  for (let j = 0; j < dim; j++) {
    const v = sobolDirections(j);
    const scrambled = new Uint32Array(32);
    for (let r = 1; r <= 32; r++) {
      philox4x32(r, j, 1, 0, seed, key1, words);
      // Lower-triangular scrambling matrix with unit diagonal: digit r mixes only digits above it.
      const top = r === 1 ? 0 : (0xffffffff << (33 - r)) >>> 0;
      const row = ((words[0]! & top) | (1 << (32 - r))) >>> 0;
      const bit = (1 << (32 - r)) >>> 0;
      for (let b = 0; b < 32; b++) {
        if (parity32((row & v[b]!) >>> 0)) scrambled[b] = (scrambled[b]! | bit) >>> 0;
      }
    }
    philox4x32(0, j, 2, 0, seed, key1, words);
    const shift = words[0]!;
    points[0] = shift;
    // X(i) = X(i without its lowest set bit) XOR V'[lowest bit], identical to the XOR over all set bits.
    for (let i = 1; i < size; i++) {
      const low = 31 - Math.clz32(i & -i);
      points[i] = (points[i & (i - 1)]! ^ scrambled[low]!) >>> 0;
    }
    for (let i = 0; i < size; i++) {
      out[i * dim + j] = Math.fround(ppnd16((2 * points[i]! + 1) * 1.1641532182693481e-10));
    }
  }
}

const cache = new Map<string, Codebook>();

/**
 * A seeded Gaussian codebook, bit-identical on every engine (docs/algorithms.md §2, version 1);
 * `method: 'torch-sobol'` is the reference implementation's table for (K, m, seed), bit for bit
 * (see `torchSobolTable`). Results are cached per (method, seed, K, m, version), so the same
 * object comes back for the same arguments.
 *
 * @returns Codebook with `values` Float32Array [K·m] (row-major K×m).
 * @throws CodebookError `bad-size`, `bad-dim`, `bad-seed`, `bad-method`, `bad-version`, `too-large`.
 */
export function createCodebook(spec: CodebookSpec): Codebook {
  if (spec === null || typeof spec !== 'object') {
    throw new CodebookError('bad-spec', `createCodebook: expected an object {size, dim, seed, method}, got ${String(spec)}`);
  }
  const { size, dim, seed = 42, method = 'sobol', version = CODEBOOK_VERSION } = spec;
  checkSizeAndDim('createCodebook', size, dim);
  checkSeed('createCodebook', seed);
  if (method !== 'normal' && method !== 'sobol' && method !== 'torch-sobol') {
    throw new CodebookError('bad-method', `createCodebook: method must be 'normal', 'sobol' or 'torch-sobol', got ${JSON.stringify(method)}`);
  }
  if (version !== CODEBOOK_VERSION) {
    throw new CodebookError('bad-version', `createCodebook: version must be ${CODEBOOK_VERSION}, got ${version}`);
  }
  if (size * dim > 2 ** 32) {
    throw new CodebookError('too-large', `createCodebook: K·m must be at most 2^32, got ${size}·${dim}`);
  }
  if (method === 'torch-sobol' && size > TORCH_SOBOL_MAX_SIZE) {
    throw new CodebookError('bad-size', `createCodebook: size K must be at most 2^30 for 'torch-sobol' (torch's 30-bit Sobol state), got ${size}`);
  }
  const cacheKey = `${method}/${seed}/${size}/${dim}/${version}`;
  const hit = cache.get(cacheKey);
  if (hit !== undefined) return hit;
  const values = allocateFloat32('createCodebook', size * dim);
  if (method === 'normal') fillNormal(values, seed, version);
  else if (method === 'sobol') fillSobol(values, size, dim, seed, version);
  else fillTorchSobol(values, size, dim, seed);
  const codebook: Codebook = Object.freeze({ values, size, dim, method, seed, version });
  cache.set(cacheKey, codebook);
  return codebook;
}

/**
 * Wraps a K×m table made elsewhere (e.g. exported from the reference implementation) as a
 * `'table'` codebook. The values are copied.
 *
 * @param values [K·m] row-major, finite
 * @throws CodebookError `bad-size`, `bad-dim`, `shape-mismatch`, `non-finite`.
 */
export function codebookFromValues(values: ArrayLike<number>, size: number, dim: number): Codebook {
  checkSizeAndDim('codebookFromValues', size, dim);
  if (values === null || typeof values !== 'object' || typeof values.length !== 'number') {
    throw new CodebookError('bad-values', `codebookFromValues: values must be an array of K·m numbers, got ${String(values)}`);
  }
  if (values.length !== size * dim) {
    throw new CodebookError(
      'shape-mismatch',
      `codebookFromValues: values must have K·m = ${size}·${dim} = ${size * dim} entries, got ${values.length}`,
    );
  }
  const copy = allocateFloat32('codebookFromValues', size * dim);
  for (let n = 0; n < copy.length; n++) {
    const value = values[n]!;
    if (!Number.isFinite(value)) {
      throw new CodebookError(
        'non-finite',
        `codebookFromValues: values must be finite, got ${value} at row ${Math.floor(n / dim)}, column ${n % dim}`,
      );
    }
    copy[n] = value;
  }
  return Object.freeze({ values: copy, size, dim, method: 'table' as const, seed: null, version: null });
}

/** The JSON a tokenizer manifest stores for a generated codebook; null for `'table'` codebooks. */
export function codebookSpec(codebook: Codebook): Required<CodebookSpec> | null {
  if (codebook.method === 'table' || codebook.seed === null || codebook.version === null) return null;
  return { size: codebook.size, dim: codebook.dim, seed: codebook.seed, method: codebook.method, version: codebook.version };
}
