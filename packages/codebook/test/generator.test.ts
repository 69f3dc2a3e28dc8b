import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CodebookError, codebookFromValues, codebookSpec, createCodebook } from '@gq/codebook';
import { detLog, philox4x32, ppnd16, uniformFromWords } from '@gq/codebook/internal';
import { normalCdf } from '@gq/test-utils';

const hex = (words: Uint32Array): string[] => [...words].map((w) => w.toString(16).padStart(8, '0'));

function sha256Float32LE(values: Float32Array): string {
  const bytes = new Uint8Array(values.length * 4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i]!, true);
  return createHash('sha256').update(bytes).digest('hex');
}

function float32Bits(value: number): string {
  const view = new DataView(new ArrayBuffer(4));
  view.setFloat32(0, value, true);
  return view.getUint32(0, true).toString(16).padStart(8, '0');
}

describe('Philox4x32-10', () => {
  const out = new Uint32Array(4);
  it('matches the Random123 known-answer tests', () => {
    philox4x32(0, 0, 0, 0, 0, 0, out);
    expect(hex(out)).toEqual(['6627e8d5', 'e169c58d', 'bc57ac4c', '9b00dbd8']);
    philox4x32(0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, out);
    expect(hex(out)).toEqual(['408f276d', '41c83b0e', 'a20bc7c6', '6d5451fd']);
    philox4x32(0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0, out);
    expect(hex(out)).toEqual(['d16cfe09', '94fdcceb', '5001e420', '24126ea1']);
  });
  it('gives the §2.6 words and uniform for seed 42, version 1', () => {
    philox4x32(0, 0, 0, 0, 42, 0x47510001, out);
    expect(hex(out)).toEqual(['846232bf', 'bd04493c', '399f8c30', '04cfc48a']);
    expect(uniformFromWords(out[0]!, out[1]!)).toBe(0.5171239264933113);
  });
  it('maps the extreme words to 2^-53 and 1 - 2^-53', () => {
    expect(uniformFromWords(0, 0)).toBe(2 ** -53);
    expect(uniformFromWords(0xffffffff, 0xffffffff)).toBe(1 - 2 ** -53);
  });
});

describe('detLog', () => {
  it('reproduces the §2.6 values bit-exactly', () => {
    expect(detLog(0.025)).toBe(-3.6888794541139363);
    expect(detLog(0.7)).toBe(-0.35667494393873245);
    expect(detLog(3)).toBe(1.0986122886681096);
    expect(detLog(2 ** -53)).toBe(-36.7368005696771);
  });
  it('is exact at powers of two and handles subnormals', () => {
    // ln(2^k) = k·LN2_HI + k·LN2_LO to within one rounding.
    for (const k of [-1074, -1030, -1, 0, 1, 10, 1023]) {
      const expected = k * Math.LN2;
      expect(Math.abs(detLog(2 ** k) - expected)).toBeLessThanOrEqual(Math.abs(expected) * 2.3e-16);
    }
  });
  it('agrees with Math.log to 1 ulp over a wide sweep', () => {
    let x = 1e-300;
    while (x < 1e300) {
      const reference = Math.log(x);
      // Both are ≤ 1 ulp from the exact value, so they differ by at most 2 ulps of the result.
      expect(Math.abs(detLog(x) - reference)).toBeLessThanOrEqual(Math.max(Math.abs(reference), 1e-300) * 4.5e-16);
      x *= 1.37;
    }
  });
  it('throws for x ≤ 0, NaN and ∞', () => {
    for (const bad of [0, -1, Number.NaN, Infinity]) expect(() => detLog(bad)).toThrow(CodebookError);
  });
});

describe('ppnd16', () => {
  it('reproduces the §2.6 values bit-exactly', () => {
    expect(ppnd16(0.025)).toBe(-1.9599639845400538);
    expect(ppnd16(0.975)).toBe(1.9599639845400536);
    expect(ppnd16(1e-10)).toBe(-6.361340902404056);
    expect(ppnd16(0.3)).toBe(-0.5244005127080407);
    expect(ppnd16(2 ** -53)).toBe(-8.209536151601386);
  });
  it('is the inverse of an independent normal CDF', () => {
    for (let p = 0.0005; p < 1; p += 0.0137) {
      // |Φ(Φ⁻¹(p)) − p| is dominated by the CDF's own float64 cancellation near the centre.
      expect(Math.abs(normalCdf(ppnd16(p)) - p)).toBeLessThan(2e-14);
    }
  });
  it('is exactly antisymmetric on the generator uniforms', () => {
    for (let k = 0; k < 2000; k++) {
      const u = (2 * (k * 2251799813685 + 17) + 1) * 2 ** -53;
      expect(ppnd16(1 - u)).toBe(-ppnd16(u));
    }
  });
  it('rejects p outside (0, 1)', () => {
    for (const bad of [0, 1, -0.1, 1.5, Number.NaN]) expect(() => ppnd16(bad)).toThrow(CodebookError);
  });
});

const table: Record<'normal' | 'sobol', string[]> = {
  normal: ['3d2fde31', 'bf7bb1fd', 'c00bf5ca', 'c00dd694', 'bf012b56', 'bf4cf0c7', 'bef87e93', '3e488cb8', '3d43251f', '3f006c98', 'bee1291f', '3f9855e3', 'bf0b9520', '3f57720a', 'bf13897f', '3f367b8e'],
  sobol: ['3ea9629f', 'bfe3ff05', 'be0f88a8', '3dc5db81', '3ff968eb', '3f7aec86', 'bf7a772c', 'bed6a190', '3c113560', '3ed6e74d', 'bef7b8c3', 'bf7ab6de', '3f82a0e5', 'bdc72d38', 'bfed1010', '3fe395aa'],
};

const golden: [method: 'normal' | 'sobol', seed: number, size: number, dim: number, sha: string][] = [
  ['normal', 42, 8, 2, '9faa418ad8007be846f05672abef0673f0a6a20e6a5283e6bf1ca660ed66938a'],
  ['sobol', 42, 8, 2, 'f0ba7dabd69f401665c3d6c1ed4308e86152c95976e2fc891dd900cb507a29c0'],
  ['normal', 42, 256, 4, '8486042a4d0f1499190d1b50659cbf2ca6dbf9bf2cd8b614fd37ccb65b2931ba'],
  ['sobol', 42, 256, 4, '86bd27fb5ba19887ddbb9b39b1aff870f21dee0d6aeb525136ff794c98d2394b'],
  ['normal', 0, 4096, 16, 'c70bd0f5f37ebe68011ae886c05564f1721768eef8257f7a46332939c65aa474'],
  ['sobol', 0, 4096, 16, '793e4b050804e196361fe1b6004cd904bc89e0ae7ff1bbf3e221a9379b781519'],
  ['normal', 42, 65536, 16, 'fc49174ef6fc9217299f2517ed31e6b173b2d267f58b51cceee3399d50fdf186'],
  ['sobol', 42, 65536, 16, 'c787d2d98ec10d766d991032cb2f281cf2af0e122bde65fbb1faf56797ce03ab'],
];

describe('createCodebook (version 1)', () => {
  it.each(['normal', 'sobol'] as const)('reproduces the §2.6 K=8, m=2 %s table bit-exactly', (method) => {
    const codebook = createCodebook({ size: 8, dim: 2, seed: 42, method });
    expect([...codebook.values].map(float32Bits)).toEqual(table[method]);
  });

  it.each(golden)('golden hash %s seed=%i K=%i m=%i', (method, seed, size, dim, sha) => {
    const codebook = createCodebook({ size, dim, seed, method });
    expect(codebook.values.length).toBe(size * dim);
    expect(sha256Float32LE(codebook.values)).toBe(sha);
  });

  it('is nested in K: the first K rows of a larger codebook equal the smaller one', () => {
    for (const method of ['normal', 'sobol'] as const) {
      const small = createCodebook({ size: 512, dim: 8, seed: 3, method });
      const large = createCodebook({ size: 4096, dim: 8, seed: 3, method });
      expect(large.values.subarray(0, small.values.length)).toEqual(small.values);
    }
  });

  it('defaults to sobol, seed 42, version 1 and caches per tuple', () => {
    const a = createCodebook({ size: 64, dim: 4 });
    expect([a.method, a.seed, a.version]).toEqual(['sobol', 42, 1]);
    expect(createCodebook({ size: 64, dim: 4, seed: 42, method: 'sobol' })).toBe(a);
    expect(codebookSpec(a)).toEqual({ size: 64, dim: 4, seed: 42, method: 'sobol', version: 1 });
  });

  it.each(['normal', 'sobol'] as const)('%s codebook has N(0,1) statistics', (method) => {
    const { values } = createCodebook({ size: 65536, dim: 16, seed: 42, method });
    const n = values.length;
    let sum = 0;
    for (const v of values) sum += v;
    const mean = sum / n;
    let m2 = 0;
    let m3 = 0;
    let m4 = 0;
    for (const v of values) {
      const d = v - mean;
      m2 += d * d;
      m3 += d * d * d;
      m4 += d * d * d * d;
    }
    const variance = m2 / n;
    // i.i.d. N(0,1) with n = 2^20: s.e. of the mean 1e-3, of the variance 1.4e-3, of skewness 2.4e-3,
    // of kurtosis 4.8e-3; the bounds are 5 standard errors. Sobol points are far tighter.
    expect(Math.abs(mean)).toBeLessThan(5e-3);
    expect(Math.abs(variance - 1)).toBeLessThan(7e-3);
    expect(Math.abs(m3 / n / variance ** 1.5)).toBeLessThan(1.2e-2);
    expect(Math.abs(m4 / n / variance ** 2 - 3)).toBeLessThan(2.4e-2);
    if (method === 'sobol') {
      // §2.6 sanity values for this table: mean −5.8e-7, population s.d. 0.99999699.
      expect(mean).toBeCloseTo(-5.8e-7, 7);
      expect(Math.sqrt(variance)).toBeCloseTo(0.99999699, 7);
    }
    // Kolmogorov–Smirnov distance of the first 4096 codewords' dimension 0 against the independent
    // CDF above; the 0.1% critical value for n = 4096 is 1.95/√n ≈ 0.030.
    const sample = Array.from({ length: 4096 }, (_, i) => values[i * 16]!).sort((x, y) => x - y);
    let ks = 0;
    sample.forEach((v, i) => {
      const cdf = normalCdf(v);
      ks = Math.max(ks, Math.abs(cdf - i / sample.length), Math.abs(cdf - (i + 1) / sample.length));
    });
    expect(ks).toBeLessThan(0.03);
  });

  it('sobol: every dimension is stratified and dims (0,1) form a (0,k,2)-net', () => {
    const size = 1024;
    const dim = 6;
    const { values } = createCodebook({ size, dim, seed: 5, method: 'sobol' });
    // Map back through the independent CDF; float32 rounding moves u by < 1e-7, far below 1/1024
    // except in the rare case of a point within 1e-7 of a bin edge (none for this seed).
    const bin = (v: number, cells: number): number => Math.min(cells - 1, Math.floor(normalCdf(v) * cells));
    for (let j = 0; j < dim; j++) {
      const counts = new Uint16Array(size);
      for (let i = 0; i < size; i++) counts[bin(values[i * dim + j]!, size)]!++;
      expect(counts.every((c) => c === 1)).toBe(true);
    }
    for (let a = 0; a <= 10; a++) {
      const cells = new Uint16Array(size);
      for (let i = 0; i < size; i++) {
        cells[bin(values[i * dim]!, 2 ** a) * 2 ** (10 - a) + bin(values[i * dim + 1]!, 2 ** (10 - a))]!++;
      }
      expect(cells.every((c) => c === 1)).toBe(true);
    }
  });

  it('rejects bad arguments with CodebookError codes', () => {
    const cases: [unknown, string][] = [
      [{ size: 1000, dim: 4 }, 'bad-size'],
      [{ size: 1, dim: 4 }, 'bad-size'],
      [{ size: 2 ** 32, dim: 1 }, 'bad-size'],
      [{ size: 64, dim: 0 }, 'bad-dim'],
      [{ size: 64, dim: 33 }, 'bad-dim'],
      [{ size: 64, dim: 2.5 }, 'bad-dim'],
      [{ size: 64, dim: 4, seed: -1 }, 'bad-seed'],
      [{ size: 64, dim: 4, seed: 2 ** 32 }, 'bad-seed'],
      [{ size: 64, dim: 4, method: 'uniform' }, 'bad-method'],
      [{ size: 64, dim: 4, version: 2 }, 'bad-version'],
    ];
    for (const [spec, code] of cases) {
      expect(() => createCodebook(spec as never)).toThrow(expect.objectContaining({ code, name: 'CodebookError' }));
    }
    expect(() => createCodebook({ size: 1000, dim: 4 })).toThrow(/createCodebook: size K must be a power of two.*got 1000/);
  });
});

describe('codebookFromValues', () => {
  it('copies a table and marks it as such', () => {
    const values = new Float32Array([1, 2, 3, 4, 5, 6, 7, 8]);
    const codebook = codebookFromValues(values, 4, 2);
    values[0] = 99;
    expect([...codebook.values]).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect([codebook.method, codebook.seed, codebook.size, codebook.dim]).toEqual(['table', null, 4, 2]);
    expect(codebookSpec(codebook)).toBeNull();
  });
  it('validates size, length and finiteness', () => {
    expect(() => codebookFromValues(new Float32Array(6), 3, 2)).toThrow(expect.objectContaining({ code: 'bad-size' }));
    expect(() => codebookFromValues(new Float32Array(6), 4, 2)).toThrow(/K·m = 4·2 = 8 entries, got 6/);
    expect(() => codebookFromValues([0, 1, Number.NaN, 2], 2, 2)).toThrow(/finite, got NaN at row 1, column 0/);
  });
});
