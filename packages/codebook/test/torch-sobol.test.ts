import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseSafetensors } from '@gq/safetensors';
import { expectCodedError, readFixtureJson, readFixtureTensors } from '@gq/test-utils';
import { CodebookError, codebookSpec, createCodebook, torchSobolTable } from '@gq/codebook';
import { Mt19937, ndtri, sobolDirections, torchSobolState } from '@gq/codebook/internal';

/*
 * 'torch-sobol' against the reference implementation's own tables (../shared/fixtures/torch-codebook:
 * SHA-256 of prior_samples(K, m, seed) made with PyTorch and SciPy), the gq-search fixture's full
 * table, and SciPy's ndtri.
 */

interface TorchCase {
  readonly K: number;
  readonly m: number;
  readonly seed: number;
  readonly sha256: string;
  readonly first_rows: number[][];
  readonly last_row: number[];
  readonly row_min: number;
  readonly row_max: number;
}

const { cases } = readFixtureJson<{ cases: TorchCase[] }>('torch-codebook', 'cases.json');

/** SHA-256 of float32 values as little-endian bytes (the engines this runs on are little-endian). */
function sha256(values: Float32Array): string {
  return createHash('sha256').update(new Uint8Array(values.buffer, values.byteOffset, values.byteLength)).digest('hex');
}

function isPowerOfTwo(k: number): boolean {
  return (k & (k - 1)) === 0;
}

describe("createCodebook method 'torch-sobol' = the reference's prior_samples(K, m, seed)", () => {
  it('covers the fixture: 11 cases, K up to 2^18, m up to 18, seeds 0, 7 and 42, one K not a power of two', () => {
    expect(cases).toHaveLength(11);
    expect(cases.some((c) => !isPowerOfTwo(c.K))).toBe(true);
  });

  it.each(cases.map((c) => [`K=${c.K}, m=${c.m}, seed ${c.seed}`, c] as const))('%s: SHA-256, rows, extremes', (_, c) => {
    // createCodebook takes power-of-two K (tokens are packed at log2 K bits); torchSobolTable any K.
    const values = isPowerOfTwo(c.K)
      ? createCodebook({ size: c.K, dim: c.m, seed: c.seed, method: 'torch-sobol' }).values
      : torchSobolTable(c.K, c.m, c.seed);
    expect(values).toHaveLength(c.K * c.m);
    expect(Array.from(values.subarray(0, 4 * c.m))).toEqual(c.first_rows.flat());
    expect(Array.from(values.subarray((c.K - 1) * c.m))).toEqual(c.last_row);
    let min = Infinity;
    let max = -Infinity;
    for (const v of values) {
      min = Math.min(min, v);
      max = Math.max(max, v);
    }
    expect([min, max]).toEqual([c.row_min, c.row_max]);
    expect(sha256(values)).toBe(c.sha256);
  });

  it('K = 256, m = 4, seed 42 equals the gq-search fixture codebook bit for bit', () => {
    const fixture = readFixtureTensors(parseSafetensors, 'gq-search', 'search_K256_m4_N64.safetensors').get('codebook')!;
    expect([fixture.dtype, fixture.shape]).toEqual(['F32', [256, 4]]);
    const codebook = createCodebook({ size: 256, dim: 4, seed: 42, method: 'torch-sobol' });
    expect(new Uint32Array(codebook.values.buffer)).toEqual(new Uint32Array(Float32Array.from(fixture.data as Float32Array).buffer));
    // The project's portable 'sobol' table is a different table.
    expect(createCodebook({ size: 256, dim: 4, seed: 42, method: 'sobol' }).values).not.toEqual(codebook.values);
  });

  it('nests: the first K rows of a larger table are the smaller table (torch draws points in order)', () => {
    const large = torchSobolTable(1024, 3, 42);
    expect(torchSobolTable(1000, 3, 42)).toEqual(large.subarray(0, 3000));
    expect(createCodebook({ size: 512, dim: 3, seed: 42, method: 'torch-sobol' }).values).toEqual(large.subarray(0, 1536));
  });

  it('is recorded in the spec, cached per tuple, and the default seed is 42', () => {
    const codebook = createCodebook({ size: 64, dim: 2, method: 'torch-sobol' });
    expect(codebookSpec(codebook)).toEqual({ size: 64, dim: 2, seed: 42, method: 'torch-sobol', version: 1 });
    expect(createCodebook({ size: 64, dim: 2, seed: 42, method: 'torch-sobol' })).toBe(codebook);
    expect(torchSobolTable(64, 2)).toEqual(codebook.values);
  });

  it('rejects what the reference cannot draw and what the package does not support', async () => {
    await expectCodedError(() => torchSobolTable(0, 4), CodebookError, 'bad-size', 'torchSobolTable: size K must be an integer in [1, 2^30], got 0');
    await expectCodedError(() => torchSobolTable(2 ** 30 + 1, 1), CodebookError, 'bad-size');
    await expectCodedError(() => torchSobolTable(16, 33), CodebookError, 'bad-dim', 'dim m must be an integer in [1, 32], got 33');
    await expectCodedError(() => torchSobolTable(16, 2, -1), CodebookError, 'bad-seed', 'seed must be an integer in [0, 2^32), got -1');
    await expectCodedError(() => createCodebook({ size: 2 ** 31, dim: 1, method: 'torch-sobol' }), CodebookError, 'bad-size', "at most 2^30 for 'torch-sobol'");
    await expectCodedError(() => createCodebook({ size: 16, dim: 1, method: 'torch' as 'sobol' }), CodebookError, 'bad-method', "'normal', 'sobol' or 'torch-sobol'");
  });
});

describe("torch's generator and engine state", () => {
  it('MT19937 seeded like manual_seed matches the C++ standard: the 10 000th output of seed 5489 is 4123659995', () => {
    const generator = new Mt19937(5489);
    const first = [generator.next(), generator.next()];
    for (let i = 3; i < 10000; i++) generator.next();
    expect(first).toEqual([3499211612, 581869302]);
    expect(generator.next()).toBe(4123659995);
  });

  it('scrambling is a lower-triangular unit-diagonal map: it keeps the leading bit of every direction number', () => {
    for (const seed of [0, 42]) {
      const { directions, shift } = torchSobolState(5, seed);
      for (let d = 0; d < 5; d++) {
        const plain = sobolDirections(d);
        expect(shift[d]).toBeLessThan(2 ** 30);
        for (let j = 0; j < 30; j++) {
          const original = plain[j]! >>> 2;
          const scrambled = directions[d * 30 + j]!;
          // The highest set bit of L·v is that of v (rows above it see no bit of v; its own row has a 1 on the diagonal).
          expect(Math.clz32(scrambled)).toBe(Math.clz32(original));
        }
      }
    }
  });

  it("point 0 is the scrambled shift, not the origin (torch's draw starts at index 0)", () => {
    const { shift } = torchSobolState(4, 42);
    const table = torchSobolTable(1, 4, 42);
    expect(Array.from(table)).toEqual(Array.from(shift, (s) => Math.fround(ndtri(Math.fround(s) * 2 ** -30))));
  });
});

describe("ndtri = SciPy's scipy.special.ndtri", () => {
  it('rounded to float32, equals SciPy 1.17.1 on 69 632 Sobol coordinates (tail and all of (0, 1))', () => {
    // Inputs fround(k)·2^-30 for k = 1..4096 and k = 1 + 16381·i (i < 65536): SciPy's float32 loop
    // (float64 ndtri, then float32), hashed as little-endian float32.
    const ks = [...Array.from({ length: 4096 }, (_, i) => i + 1), ...Array.from({ length: 65536 }, (_, i) => 1 + 16381 * i)];
    const out = Float32Array.from(ks, (k) => ndtri(Math.fround(k) * 2 ** -30));
    expect(sha256(out)).toBe('a6ab1c04ba8e420811d26e8637f1cd8aeab152d112d13383be05d033def1b501');
  });

  it('agrees with SciPy in float64 to a few ulp across all three branches, subnormals included', () => {
    // SciPy 1.17.1 float64 values; the logarithm may differ from the C library's in the last bit.
    const reference: [number, number][] = [
      [5e-324, -38.467405617144344], [1e-300, -37.0470962993612], [1e-20, -9.262340089798409],
      [1e-15, -7.941345326170998], [1e-10, -6.361340902404056], [0.01, -2.3263478740408408],
      [0.2, -0.8416212335729142], [0.75, 0.6744897501960817], [0.9, 1.2815515655446004],
      [0.9999999999999999, 8.209536151601387],
    ];
    for (const [y, expected] of reference) {
      // 8 ulp: the tail evaluates two logarithms, a square root and a rational function.
      expect(Math.abs(ndtri(y) - expected)).toBeLessThanOrEqual(8 * Number.EPSILON * Math.abs(expected));
    }
    expect(ndtri(0.5)).toBe(0);
  });

  it('maps 0 and 1 to ∓∞ and anything outside [0, 1] to NaN, as norm.ppf does', () => {
    expect(ndtri(0)).toBe(-Infinity);
    expect(ndtri(1)).toBe(Infinity);
    expect(ndtri(-1e-300)).toBeNaN();
    expect(ndtri(1 + Number.EPSILON)).toBeNaN();
    expect(ndtri(Number.NaN)).toBeNaN();
  });

  it('is odd about ½ (Φ⁻¹(1 − y) = −Φ⁻¹(y)) where 1 − y is exact', () => {
    for (const y of [2 ** -20, 2 ** -10, 2 ** -5, 0.125, 0.3125, 0.4375]) expect(ndtri(1 - y)).toBe(-ndtri(y));
  });
});
