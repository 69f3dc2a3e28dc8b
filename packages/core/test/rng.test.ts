import { describe, expect, it } from 'vitest';
import { createRng, seededUniform } from '@gq/core';

/** mulberry32 in exact BigInt arithmetic: the reference algorithm without Math.imul or >>> tricks. */
function mulberry32Oracle(seed: number): () => number {
  const mask = (1n << 32n) - 1n;
  const mul = (a: bigint, b: bigint): bigint => (a * b) & mask;
  let state = BigInt(seed >>> 0);
  return () => {
    state = (state + 0x6d2b79f5n) & mask;
    let t = state;
    t = mul(t ^ (t >> 15n), t | 1n);
    t = (t ^ ((t + mul(t ^ (t >> 7n), t | 61n)) & mask)) & mask;
    return Number((t ^ (t >> 14n)) & mask) / 2 ** 32;
  };
}

describe('@gq/core seededUniform', () => {
  it('matches an exact-integer mulberry32 oracle for several seeds', () => {
    for (const seed of [0, 1, 42, 0x9e3779b9, 2 ** 32 - 1]) {
      const fast = seededUniform(seed);
      const oracle = mulberry32Oracle(seed);
      for (let i = 0; i < 2000; i++) expect(fast()).toBe(oracle());
    }
  });

  it('draws in [0, 1) with mean ½ (n = 50 000, standard error 0.0013, 5σ bound)', () => {
    const next = seededUniform(7);
    let sum = 0;
    let outside = 0;
    for (let i = 0; i < 50_000; i++) {
      const u = next();
      if (!(u >= 0 && u < 1)) outside++;
      sum += u;
    }
    expect(outside).toBe(0);
    expect(Math.abs(sum / 50_000 - 0.5)).toBeLessThan(0.0065);
  });
});

/** splitmix32-seeded xoshiro128** uniforms in exact BigInt arithmetic (the published algorithms). */
function xoshiroUniformOracle(seed: number): () => number {
  const mask = (1n << 32n) - 1n;
  const rotl = (x: bigint, k: bigint): bigint => ((x << k) | (x >> (32n - k))) & mask;
  let s = BigInt(seed >>> 0);
  const state: bigint[] = [];
  for (let i = 0; i < 4; i++) {
    s = (s + 0x9e3779b9n) & mask;
    let z = s;
    z = ((z ^ (z >> 16n)) * 0x85ebca6bn) & mask;
    z = ((z ^ (z >> 13n)) * 0xc2b2ae35n) & mask;
    state.push(z ^ (z >> 16n));
  }
  const next = (): bigint => {
    const [s0, s1, s2, s3] = state as [bigint, bigint, bigint, bigint];
    const result = (rotl((s1 * 5n) & mask, 7n) * 9n) & mask;
    const t = (s1 << 9n) & mask;
    const n2 = s2 ^ s0;
    const n3 = s3 ^ s1;
    const n1 = s1 ^ n2;
    const n0 = s0 ^ n3;
    state.splice(0, 4, n0, n1, n2 ^ t, rotl(n3, 11n));
    return result;
  };
  return () => {
    const hi = next() >> 5n;
    const lo = next() >> 6n;
    return Number(((hi << 26n) + lo) * 2n + 1n) / 2 ** 54;
  };
}

describe('@gq/core createRng', () => {
  it('uniform matches an exact-integer xoshiro128** oracle and stays strictly inside (0, 1)', () => {
    for (const seed of [0, 1, 42, 2 ** 32 - 1]) {
      const rng = createRng(seed);
      const oracle = xoshiroUniformOracle(seed);
      for (let i = 0; i < 2000; i++) {
        const u = rng.uniform();
        expect(u).toBe(oracle());
        expect(u > 0 && u < 1).toBe(true);
      }
    }
  });

  it('normal is reproducible per seed with mean 0 and variance 1 (n = 50 000, 5σ bounds)', () => {
    const a = createRng(9);
    const b = createRng(9);
    let sum = 0;
    let squares = 0;
    for (let i = 0; i < 50_000; i++) {
      const x = a.normal();
      expect(x).toBe(b.normal());
      sum += x;
      squares += x * x;
    }
    // Standard errors: mean 1/√n ≈ 0.0045, variance √(2/n) ≈ 0.0063.
    expect(Math.abs(sum / 50_000)).toBeLessThan(0.0224);
    expect(Math.abs(squares / 50_000 - 1)).toBeLessThan(0.0317);
  });
});
