import { describe, expect, it } from 'vitest';
import { seededUniform } from '@gq/nn';

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

describe('@gq/nn seededUniform', () => {
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
