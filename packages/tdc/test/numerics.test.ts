import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { seededNormal, seededRandom, setupBackend, tensorGrowth } from '@gq/test-utils';
import { createTdc, fromState, klBits, reparameterize, TdcError, vanillaKl } from '@gq/tdc';

const LN2 = Math.LN2;

/** float64 oracle: rate in bits of channel value (μ, raw ℓ), with the [−30, 20] clamp. */
function channelBits64(mu: number, rawLogVar: number): number {
  const l = Math.min(Math.max(rawLogVar, -30), 20);
  return (0.5 * (mu * mu + Math.exp(l) - 1 - l)) / LN2;
}

/** float64 oracle of per-token rates for a flat [P, C] latent and token size m. */
function tokenBits64(mu: Float64Array, logVar: Float64Array, channels: number, m: number, layout: 'strided' | 'contiguous'): number[] {
  const groups = channels / m;
  const positions = mu.length / channels;
  const out: number[] = [];
  for (let p = 0; p < positions; p++) {
    for (let g = 0; g < groups; g++) {
      let sum = 0;
      for (let d = 0; d < m; d++) {
        const ch = layout === 'strided' ? d * groups + g : g * m + d;
        sum += channelBits64(mu[p * channels + ch]!, logVar[p * channels + ch]!);
      }
      out.push(sum);
    }
  }
  return out;
}

function randomLatent(seed: number, size: number): { mu: Float64Array; logVar: Float64Array } {
  const normal = seededNormal(seed);
  const mu = Float64Array.from({ length: size }, () => Math.fround(normal()));
  const logVar = Float64Array.from({ length: size }, () => Math.fround(-2 + normal()));
  return { mu, logVar };
}

describe('klBits', () => {
  beforeAll(async () => {
    await setupBackend('cpu');
  });

  for (const layout of ['strided', 'contiguous'] as const) {
    it(`matches a float64 oracle on NHWC [2,3,3,8] with m = 2 (${layout})`, async () => {
      const shape = [2, 3, 3, 8];
      const { mu, logVar } = randomLatent(11, 2 * 3 * 3 * 8);
      logVar[5] = -40; // clamped to −30
      logVar[9] = 25; // clamped to 20: e^20 bits dominate that token
      const muT = tf.tensor(Float32Array.from(mu), shape);
      const logVarT = tf.tensor(Float32Array.from(logVar), shape);
      const bits = klBits(muT, logVarT, { group: 2, layout });
      expect(bits.shape).toEqual([2, 3, 3, 4]);
      const got = await bits.data();
      const want = tokenBits64(mu, logVar, 8, 2, layout);
      // float32: exp(20) ≈ 4.9e8 carries ~30 absolute error; elsewhere ≤ 1e-6 relative + cancellation 1e-6.
      for (let i = 0; i < want.length; i++) expect(Math.abs(got[i]! - want[i]!)).toBeLessThanOrEqual(2e-6 * Math.abs(want[i]!) + 2e-6);
      tf.dispose([muT, logVarT, bits]);
    });
  }

  it('is zero at the prior and layouts differ only in which channels form a token', async () => {
    const zeros = tf.zeros([1, 4, 4]);
    const atPrior = klBits(zeros, zeros, { group: 2 });
    expect(Math.max(...(await atPrior.data()))).toBe(0);
    // One token hot: channel 1. Strided (G = 2): ch = d·2 + g → token g = 1; contiguous: g = 0.
    const mu = tf.tensor3d([[[0, 2, 0, 0]]]);
    const v = tf.zerosLike(mu);
    const strided = klBits(mu, v, { group: 2 });
    const contiguous = klBits(mu, v, { group: 2, layout: 'contiguous' });
    // R = ½·2²/ln 2 = 2/ln 2 bits, a single float32 rounding.
    expect(Array.from(await strided.data())).toEqual([0, Math.fround(2 / LN2)]);
    expect(Array.from(await contiguous.data())).toEqual([Math.fround(2 / LN2), 0]);
    tf.dispose([zeros, atPrior, mu, v, strided, contiguous]);
  });
});

describe('gradients match central finite differences of a float64 oracle', () => {
  beforeAll(async () => {
    await setupBackend('cpu');
  });

  it('TDC loss with all three tiers active (sum per image), including a clamped log-variance', async () => {
    const B = 2;
    const channels = 4;
    const m = 2;
    const rand = seededRandom(5);
    // Tokens far from the band edges so that a finite-difference step never changes a tier.
    const mu = Float64Array.from({ length: B * 3 * channels }, () => Math.fround((rand() - 0.5) * 6));
    const logVar = Float64Array.from({ length: mu.length }, () => Math.fround(-3 * rand()));
    logVar[3] = -31; // clamped: zero gradient
    const T = 4;
    const alpha = 0.5;
    const state = { ...createTdc({ targetBits: T, group: m, tolerance: alpha, weight: 0.1 }).state, lambda: 1.3, lambdaMin: 0.6, lambdaMax: 2.5 };
    const tdc = fromState(state);
    const rates = tokenBits64(mu, logVar, channels, m, 'strided');
    for (const r of rates) expect(Math.min(Math.abs(r - (T - alpha)), Math.abs(r - (T + alpha)))).toBeGreaterThan(0.05);
    const tiers = rates.map((r) => (r > T + alpha ? state.lambdaMax : r < T - alpha ? state.lambdaMin : 1));
    expect(new Set(tiers).size).toBe(3);

    const oracle = (muValues: Float64Array, logVarValues: Float64Array): number => {
      const r = tokenBits64(muValues, logVarValues, channels, m, 'strided');
      return (0.1 * state.lambda * r.reduce((s, v, i) => s + tiers[i]! * v, 0)) / B;
    };

    const shape = [B, 3, channels];
    const muT = tf.tensor(Float32Array.from(mu), shape);
    const logVarT = tf.tensor(Float32Array.from(logVar), shape);
    const handles: { dispose(): void }[] = [];
    const gradients = tf.grads((a: tf.Tensor, b: tf.Tensor) => {
      const out = tdc.loss(a, b);
      handles.push(out.stats);
      return out.loss;
    })([muT, logVarT]);
    const [gMu, gLogVar] = await Promise.all(gradients.map((g) => g.data()));
    const h = 1e-6;
    for (const [values, got, name] of [[mu, gMu, 'mu'], [logVar, gLogVar, 'logVar']] as const) {
      for (let i = 0; i < values.length; i++) {
        const plus = Float64Array.from(values);
        const minus = Float64Array.from(values);
        plus[i]! += h;
        minus[i]! -= h;
        const fd = name === 'mu' ? (oracle(plus, logVar) - oracle(minus, logVar)) / (2 * h) : (oracle(mu, plus) - oracle(mu, minus)) / (2 * h);
        // float32 gradient of an O(1) expression: 1e-5 relative; FD truncation error O(h²) ≈ 1e-12.
        expect(Math.abs(got[i]! - fd), `${name}[${i}]`).toBeLessThanOrEqual(1e-5 * Math.abs(fd) + 1e-6);
      }
    }
    expect(gLogVar[3]).toBe(0);
    handles.forEach((s) => s.dispose());
    tf.dispose([muT, logVarT, ...gradients]);
  });

  it('vanillaKl equals weight · Σ bits / B, and its gradient is weight·μ/(B ln 2) and weight·(e^ℓ − 1)/(2B ln 2)', async () => {
    const { mu, logVar } = randomLatent(3, 2 * 6);
    const muT = tf.tensor(Float32Array.from(mu), [2, 6]);
    const logVarT = tf.tensor(Float32Array.from(logVar), [2, 6]);
    const weight = 0.4436;
    const value = vanillaKl(muT, logVarT, { weight });
    const total = tokenBits64(mu, logVar, 6, 1, 'strided').reduce((a, b) => a + b, 0);
    expect(Math.abs((await value.data())[0]! - (weight * total) / 2)).toBeLessThanOrEqual(1e-6 * weight * total);
    // The default weight is @gq/core's VANILLA_KL_WEIGHT: 0.64 per nat, expressed per bit.
    const byDefault = vanillaKl(muT, logVarT);
    const defaultWeight = 0.64 * Math.LN2;
    expect(Math.abs((await byDefault.data())[0]! - (defaultWeight * total) / 2)).toBeLessThanOrEqual(1e-6 * defaultWeight * total);
    byDefault.dispose();
    const [gMu, gLogVar] = tf.grads((a: tf.Tensor, b: tf.Tensor) => vanillaKl(a, b, { weight }))([muT, logVarT]);
    const gm = await gMu!.data();
    const gl = await gLogVar!.data();
    for (let i = 0; i < mu.length; i++) {
      const fdMu = (weight * mu[i]!) / (2 * LN2);
      const fdLogVar = (weight * (Math.exp(logVar[i]!) - 1)) / (4 * LN2);
      expect(Math.abs(gm[i]! - fdMu)).toBeLessThanOrEqual(1e-6 * (1 + Math.abs(fdMu)));
      expect(Math.abs(gl[i]! - fdLogVar)).toBeLessThanOrEqual(1e-6 * (1 + Math.abs(fdLogVar)));
    }
    tf.dispose([muT, logVarT, value, gMu!, gLogVar!]);
  });
});

describe('reparameterize', () => {
  beforeAll(async () => {
    await setupBackend('cpu');
  });

  it('is seeded, has the right moments, clamps ℓ, and differentiates as dz/dμ = 1, dz/dℓ = ½σε', async () => {
    const n = 20000;
    const mu = tf.fill([2, n / 2], 0.7);
    const logVar = tf.fill([2, n / 2], Math.log(0.25));
    const a = reparameterize(mu, logVar, { seed: 17 });
    const b = reparameterize(mu, logVar, { seed: 17 });
    const c = reparameterize(mu, logVar, { seed: 18 });
    const [za, zb, zc] = (await Promise.all([a.data(), b.data(), c.data()])) as Float32Array[];
    expect(za).toEqual(zb);
    expect(za).not.toEqual(zc);
    const mean = za!.reduce((s, v) => s + v, 0) / n;
    const variance = za!.reduce((s, v) => s + (v - mean) ** 2, 0) / n;
    // Standard errors: mean 0.5/√n = 0.0035, variance 0.25·√(2/n) = 0.0025; allow 5σ.
    expect(Math.abs(mean - 0.7)).toBeLessThan(0.018);
    expect(Math.abs(variance - 0.25)).toBeLessThan(0.0125);

    const huge = tf.fill([1, 4], 1000);
    const origin = tf.zeros([1, 4]);
    const clamped = reparameterize(origin, huge, { seed: 1 });
    // ℓ = 1000 is clamped to 20, so σ = e^10 and z stays finite.
    for (const v of await clamped.data()) expect(Number.isFinite(v)).toBe(true);

    const small = tf.tensor2d([[0.1, -0.2, 0.3]]);
    const smallLogVar = tf.tensor2d([[-1, 0, 1]]);
    const zT = reparameterize(small, smallLogVar, { seed: 4 });
    const z = await zT.data();
    const [gMu, gLogVar] = tf.grads((m: tf.Tensor, l: tf.Tensor) => tf.sum(reparameterize(m, l, { seed: 4 })))([small, smallLogVar]);
    expect(Array.from(await gMu!.data())).toEqual([1, 1, 1]);
    const gl = await gLogVar!.data();
    const muValues = [0.1, -0.2, 0.3];
    for (let i = 0; i < 3; i++) expect(gl[i]!).toBeCloseTo(0.5 * (z[i]! - muValues[i]!), 6);
    expect(() => reparameterize(small, smallLogVar, {} as never)).toThrow(TdcError);
    tf.dispose([mu, logVar, a, b, c, huge, origin, clamped, small, smallLogVar, zT, gMu!, gLogVar!]);
  });
});

describe('no tensor leaks', () => {
  beforeAll(async () => {
    await setupBackend('cpu');
  });

  it('klBits, loss + read/dispose, update, reparameterize, vanillaKl and minimize leave no tensors behind', async () => {
    const mu = tf.variable(tf.tidy(() => tf.randomNormal([2, 4, 4, 8], 0, 1, 'float32', 1)));
    const logVar = tf.variable(tf.tidy(() => tf.fill([2, 4, 4, 8], -1)));
    const tdc = createTdc({ codebookSize: 16, group: 4 });
    const optimizer = tf.train.sgd(0.01);
    const wrongShape = tf.zeros([1]);
    const growth = await tensorGrowth(async () => {
      tf.dispose(klBits(mu, logVar, { group: 4 }));
      const first = tdc.loss(mu, logVar);
      first.loss.dispose();
      tdc.update(await first.stats.read());
      const second = tdc.loss(mu, logVar);
      tf.dispose(second.loss);
      second.stats.dispose();
      let handle: { read(): Promise<unknown> } | undefined;
      optimizer.minimize(() => {
        const out = tdc.loss(mu, logVar);
        handle = out.stats;
        return out.loss;
      });
      await handle!.read();
      tf.dispose([reparameterize(mu, logVar, { seed: 3 }), vanillaKl(mu, logVar)]);
      expect(() => tdc.loss(mu, wrongShape)).toThrow(TdcError);
    });
    expect(growth).toBe(0);
    optimizer.dispose();
    tf.dispose([mu, logVar, wrongShape]);
  });
});
