/**
 * Seeded pseudo-random numbers for parameter initialisation: xoshiro128** seeded through
 * splitmix32, so the integer stream is identical on every engine. Normal draws use Box–Muller,
 * whose Math.log/cos may differ in the last bit between engines; initial weights only need to be
 * reproducible on one engine, unlike codebooks.
 */
export interface Rng {
  /** Uniform in (0, 1), never exactly 0 or 1. */
  uniform(): number;
  /** Standard normal. */
  normal(): number;
}

function splitmix32(state: number): [number, number] {
  const next = (state + 0x9e3779b9) >>> 0;
  let z = next;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return [next, (z ^ (z >>> 16)) >>> 0];
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** A deterministic generator for an integer seed in [0, 2^32). */
export function createRng(seed: number): Rng {
  let s = seed >>> 0;
  const state = new Uint32Array(4);
  for (let i = 0; i < 4; i++) {
    const [next, value] = splitmix32(s);
    s = next;
    state[i] = value;
  }
  const nextUint32 = (): number => {
    const result = Math.imul(rotl(Math.imul(state[1]!, 5) >>> 0, 7), 9) >>> 0;
    const t = (state[1]! << 9) >>> 0;
    state[2] = state[2]! ^ state[0]!;
    state[3] = state[3]! ^ state[1]!;
    state[1] = state[1]! ^ state[2]!;
    state[0] = state[0]! ^ state[3]!;
    state[2] = state[2]! ^ t;
    state[3] = rotl(state[3]!, 11);
    return result;
  };
  // 53-bit uniforms at odd multiples of 2^-54 stay strictly inside (0, 1), so log(u) is finite.
  const uniform = (): number => {
    const hi = nextUint32() >>> 5;
    const lo = nextUint32() >>> 6;
    return ((hi * 67108864 + lo) * 2 + 1) / 18014398509481984;
  };
  let spare: number | undefined;
  const normal = (): number => {
    if (spare !== undefined) {
      const value = spare;
      spare = undefined;
      return value;
    }
    const radius = Math.sqrt(-2 * Math.log(uniform()));
    const angle = 2 * Math.PI * uniform();
    spare = radius * Math.sin(angle);
    return radius * Math.cos(angle);
  };
  return { uniform, normal };
}

/**
 * mulberry32: a small seeded generator of uniforms in [0, 1) at multiples of 2^-32, built from
 * 32-bit integer operations only, so the stream is identical on every engine. Lighter than
 * `createRng` and used where a stream must match an existing one (VQ codebook init, test inputs).
 */
export function seededUniform(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
