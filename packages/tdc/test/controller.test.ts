import { beforeAll, describe, expect, it, vi } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { BAND_HALF_WIDTH, isGqError } from '@gq/core';
import { setupBackend } from '@gq/test-utils';
import {
  combineStats,
  createTdc,
  fromState,
  nextState,
  RATE_COLLAPSE_FRACTION,
  RATE_COLLAPSE_UPDATES,
  TdcError,
  tokenBridgeTdc,
  type TdcStats,
} from '@gq/tdc';

/**
 * μ that gives `bits` bits for one dimension with ℓ = 0 (R = ½μ²/ln 2). A rate exactly on a band
 * edge (7.5 in the table) is nudged up by 2e-7 relative so that float32 rounding of μ cannot move
 * it out of the inclusive band; that changes the losses by < 1e-6 relative.
 */
const muForBits = (bits: number): number => Math.sqrt(2 * bits * Math.LN2) * (bits === 7.5 ? 1 + 2e-7 : 1);

/** A [B, tokens, 1] latent (m = 1) whose per-token rates are `rates` (ℓ = 0). */
function latentWithRates(rates: number[][]): { mu: tf.Tensor; logVar: tf.Tensor } {
  const mu = tf.tensor3d(rates.map((row) => row.map((r) => [muForBits(r)])));
  return { mu, logVar: tf.zerosLike(mu) };
}

function stats(count: number, mean: number, min: number, max: number): TdcStats {
  return { count, sum: mean * count, mean, min, max };
}

describe('controller worked example (§4.9: T = 8, α = 0.5, γ = 1.01, weight 0.1, B = 2 × 3 tokens)', () => {
  beforeAll(async () => {
    await setupBackend('cpu');
  });

  it('reproduces the three steps: loss, statistics and λ updates', async () => {
    const tdc = createTdc({ codebookSize: 256, group: 1 });
    const table = [
      { rates: [[9.2, 7.9, 6.8], [8.4, 10.1, 7.7]], loss: 2.505, mean: 8.35, min: 6.8, max: 10.1, after: [1.01, 1 / 1.01, 1.01] },
      { rates: [[8.9, 7.8, 7.2], [8.2, 9.0, 7.6]], loss: 2.46479, mean: 8.116667, min: 7.2, max: 9.0, after: [1.0201, 1 / 1.0201, 1.0201] },
      { rates: [[8.3, 7.9, 7.6], [8.1, 8.4, 7.5]], loss: 2.438039, mean: 7.966667, min: 7.5, max: 8.4, after: [1.0201 / 1.01, 1.0201 / 1.01 / 1.01 / 1.01, 1.0201 / 1.01] },
    ];
    for (const row of table) {
      const { mu, logVar } = latentWithRates(row.rates);
      const { loss, stats: handle } = tdc.loss(mu, logVar);
      // Per-token μ is float32: relative error ~1e-7 per rate; the document rounds to 6 decimals.
      expect((await loss.data())[0]).toBeCloseTo(row.loss, 5);
      const read = await handle.read();
      expect(read.mean).toBeCloseTo(row.mean, 5);
      expect(read.min).toBeCloseTo(row.min, 5);
      expect(read.max).toBeCloseTo(row.max, 5);
      const next = tdc.update(read);
      expect(next.lambda).toBeCloseTo(row.after[0]!, 12);
      expect(next.lambdaMax).toBeCloseTo(row.after[2]!, 12);
      tf.dispose([mu, logVar, loss]);
    }
    // Step 3: every token is in band (7.5 inclusive) so λ_min grows back: 1/1.01² · 1.01 = 1/1.01.
    expect(tdc.state.lambdaMin).toBeCloseTo(1 / 1.01, 12);
  });

  it('uses λ_max / 1 / λ_min tier weights with inclusive band edges', async () => {
    // bitsPerNat = 2 makes R = μ² + e^ℓ − 1 − ℓ, exact in float32 for ℓ = 0 and small integer μ,
    // so rates can sit exactly on the edges of the band [9, 16] (T = 12.5, α = 3.5).
    const config = { targetBits: 12.5, tolerance: 3.5, group: 1, weight: 1, bitsPerNat: 2 };
    const tdc = fromState({ ...createTdc(config).state, lambda: 2, lambdaMin: 0.25, lambdaMax: 4 });
    const mu = tf.tensor3d([[[5], [4], [3], [2]]]);
    const logVar = tf.zerosLike(mu);
    const { loss, stats: handle } = tdc.loss(mu, logVar);
    const expected = 2 * (4 * 25 + 16 + 9 + 0.25 * 4);
    expect((await loss.data())[0]).toBe(expected);
    const read = await handle.read();
    expect([read.above, read.inBand, read.below]).toEqual([1, 2, 1]);
    expect([read.lambda, read.lambdaMin, read.lambdaMax]).toEqual([2, 0.25, 4]);
    tf.dispose([mu, logVar, loss]);
  });

  it("'meanTokens' divides by the number of tokens instead of images", async () => {
    const tdc = createTdc({ targetBits: 8, group: 1, weight: 1, reduction: 'meanTokens' });
    const { mu, logVar } = latentWithRates([[8, 8.2, 7.9], [8.1, 7.8, 8]]);
    const { loss, stats: handle } = tdc.loss(mu, logVar);
    expect((await loss.data())[0]).toBeCloseTo(48 / 6, 5);
    handle.dispose();
    expect(handle.isDisposed).toBe(true);
    tf.dispose([mu, logVar, loss]);
  });
});

describe('controller rules', () => {
  const base = createTdc({ targetBits: 8, group: 1 }).state;

  it('comparisons are strict: R̄ = T lowers λ, R_max = T + α lowers λ_max, R_min = T − α raises λ_min', () => {
    const s = nextState({ ...base, lambdaMin: 0.5, lambdaMax: 2 }, stats(4, 8, 7.5, 8.5));
    expect(s.lambda).toBe(1 / 1.01);
    expect(s.lambdaMax).toBe(2 / 1.01);
    expect(s.lambdaMin).toBe(0.5 * 1.01);
    expect(s.updates).toBe(1);
  });

  it('λ_min stays in [1e-3, 1] and λ_max in [1, 1e3]; λ is unclipped unless lambdaRange is set', () => {
    let s = base;
    for (let i = 0; i < 800; i++) s = nextState(s, stats(1, 20, 0, 20));
    expect(s.lambdaMin).toBe(1e-3);
    expect(s.lambdaMax).toBe(1e3);
    expect(s.lambda).toBeCloseTo(1.01 ** 800, 0);
    let clipped = createTdc({ targetBits: 8, group: 1, lambdaRange: [1e-3, 1e3] }).state;
    for (let i = 0; i < 800; i++) clipped = nextState(clipped, stats(1, 20, 0, 20));
    expect(clipped.lambda).toBe(1e3);
    for (let i = 0; i < 800; i++) s = nextState(s, stats(1, 8, 8, 8));
    expect(s.lambdaMin).toBe(1);
    expect(s.lambdaMax).toBe(1);
  });

  it('legacyLamMaxNoDecrease ratchets λ_max; globalOnly freezes the tiers', () => {
    let legacy = createTdc({ targetBits: 8, group: 1, legacyLamMaxNoDecrease: true }).state;
    legacy = nextState(legacy, stats(1, 9, 9, 9));
    legacy = nextState(legacy, stats(1, 8, 8, 8));
    expect(legacy.lambdaMax).toBe(1.01);
    let global = createTdc({ targetBits: 8, group: 1, mode: 'globalOnly' }).state;
    global = nextState(global, stats(1, 9, 0, 20));
    expect([global.lambda, global.lambdaMin, global.lambdaMax]).toEqual([1.01, 1, 1]);
  });

  it('legacyNoGlobalLambda drops λ from the loss', async () => {
    await setupBackend('cpu');
    const state = { ...createTdc({ targetBits: 8, group: 1, weight: 1, legacyNoGlobalLambda: true }).state, lambda: 3 };
    const { mu, logVar } = latentWithRates([[8, 8]]);
    const { loss, stats: handle } = fromState(state).loss(mu, logVar);
    expect((await loss.data())[0]).toBeCloseTo(16, 4);
    handle.dispose();
    tf.dispose([mu, logVar, loss]);
  });

  it('state round-trips through JSON exactly, and the restored controller continues identically', () => {
    const a = createTdc({ codebookSize: 65536, group: 4, layout: 'contiguous', lambdaRange: [1e-3, 1e3], weight: 0.05 });
    const sequence = [stats(10, 17, 15, 18), stats(10, 15.9, 15, 16.4), stats(10, 16.2, 14.2, 17.1)];
    a.update(sequence[0]!);
    const json = JSON.stringify(a.state);
    const b = fromState(JSON.parse(json));
    expect(b.state).toEqual(a.state);
    for (const s of sequence.slice(1)) expect(b.update(s)).toEqual(a.update(s));
    const c = createTdc({ codebookSize: 65536, group: 4, layout: 'contiguous', lambdaRange: [1e-3, 1e3], weight: 0.05 });
    c.setState(JSON.parse(JSON.stringify(a.state)));
    expect(c.state).toEqual(a.state);
  });

  it('combineStats merges workers as in §4.9 and every worker makes the same update', () => {
    const merged = combineStats([
      { count: 3, mean: 8.0, min: 7.1, max: 9.0, sum: 24 },
      { count: 1, mean: 9.2, min: 8.8, max: 9.6, sum: 9.2 },
    ]);
    expect(merged.count).toBe(4);
    expect(merged.mean).toBeCloseTo(8.3, 14);
    expect([merged.min, merged.max]).toEqual([7.1, 9.6]);
    const w1 = createTdc({ targetBits: 8, group: 1 });
    const w2 = fromState(JSON.parse(JSON.stringify(w1.state)));
    expect(w1.update(merged)).toEqual(w2.update(merged));
    expect(w1.state.lambda).toBe(1.01);
  });

  it('combineStats adds counts and histograms', () => {
    const edges = [4.5, 5.5, 6.5, 7.5, 8.5, 9.5, 10.5, 11.5];
    const a: TdcStats = { ...stats(2, 8, 7, 9), below: 1, inBand: 0, above: 1, histogram: { edges, counts: [0, 0, 0, 1, 0, 1, 0, 0, 0] } };
    const b: TdcStats = { ...stats(1, 8, 8, 8), below: 0, inBand: 1, above: 0, histogram: { edges, counts: [0, 0, 0, 0, 1, 0, 0, 0, 0] } };
    const merged = combineStats([a, b]);
    expect([merged.below, merged.inBand, merged.above]).toEqual([1, 1, 1]);
    expect(merged.histogram!.counts).toEqual([0, 0, 0, 1, 1, 1, 0, 0, 0]);
  });

  it('takes T in bits or as K = 2^T, and defaults α to BAND_HALF_WIDTH (0.5 bits)', () => {
    const byBits = createTdc({ targetBits: 12, group: 4 }).state;
    const bySize = createTdc({ codebookSize: 4096, group: 4 }).state;
    expect(byBits).toEqual(bySize);
    expect(byBits.targetBits).toBe(12);
    expect(byBits.tolerance).toBe(BAND_HALF_WIDTH);
    expect(BAND_HALF_WIDTH).toBe(0.5);
  });

  it('tokenBridgeTdc uses m = 1 and T = B', () => {
    const tdc = tokenBridgeTdc({ bitsPerChannel: 3 });
    expect([tdc.group, tdc.targetBits]).toEqual([1, 3]);
  });
});

describe('configuration and input errors', () => {
  const bad: [string, () => unknown, string][] = [
    ['non-power-of-two K', () => createTdc({ codebookSize: 300, group: 1 }), 'codebookSize must be a power of two'],
    ['both targets', () => createTdc({ codebookSize: 256, targetBits: 8, group: 1 }), 'exactly one of'],
    ['tolerance ≤ 0', () => createTdc({ targetBits: 8, group: 1, tolerance: 0 }), 'tolerance must be a finite number > 0'],
    ['factor ≤ 1', () => createTdc({ targetBits: 8, group: 1, factor: 0.99 }), 'factor must be > 1'],
    ['group 0', () => createTdc({ targetBits: 8, group: 0 }), 'group must be a positive integer'],
    ['bad range', () => createTdc({ targetBits: 8, group: 1, lambdaRange: [2, 1] }), 'lambdaRange must be [lo, hi]'],
    ['bad layout', () => createTdc({ targetBits: 8, group: 1, layout: 'rows' as never }), "layout must be 'strided' or 'contiguous'"],
  ];
  for (const [name, fn, message] of bad) {
    it(`rejects ${name}`, () => {
      expect(fn).toThrow(TdcError);
      expect(fn).toThrow(message);
    });
  }

  it('throws a GqError from @gq/tdc that isGqError recognises', () => {
    let caught: unknown;
    try {
      createTdc({ targetBits: 8, group: 0 });
    } catch (error) {
      caught = error;
    }
    expect(isGqError(caught)).toBe(true);
    expect(caught).toMatchObject({ name: 'TdcError', source: '@gq/tdc', code: 'bad-option' });
  });

  it('rejects tensors whose channels the group does not divide, mismatched shapes and wrong dtypes', async () => {
    await setupBackend('cpu');
    const tdc = createTdc({ targetBits: 8, group: 4 });
    const mu = tf.zeros([2, 8, 8, 10]);
    const other = tf.zeros([2, 8, 8, 8]);
    const ints = tf.zeros([2, 8, 8, 8], 'int32');
    expect(() => tdc.loss(mu, mu)).toThrow('tdc.loss: mu must have last dimension divisible by group=4, got shape [2,8,8,10]');
    expect(() => tdc.loss(other, mu)).toThrow('mu and logVar must have the same shape, got [2,8,8,8] and [2,8,8,10]');
    expect(() => tdc.loss(ints, ints)).toThrow(TdcError);
    tf.dispose([mu, other, ints]);
  });

  it('refuses NaN rates and stale statistics instead of steering λ with them', async () => {
    const tdc = createTdc({ targetBits: 8, group: 1 });
    const mu = tf.tensor3d([[[1], [NaN], [2]]]);
    const logVar = tf.zerosLike(mu);
    const { loss, stats: handle } = tdc.loss(mu, logVar);
    await expect(handle.read()).rejects.toThrow('got 1 non-finite of 3 (first at token 1');
    await expect(handle.read()).rejects.toThrow('already read or disposed');
    expect(() => tdc.update(stats(3, NaN, 0, 1))).toThrow('stats.mean must be a finite number');
    expect(() => tdc.update({ ...stats(3, 8, 7, 9), updates: 5 })).toThrow(/stale|current step/);
    tf.dispose([mu, logVar, loss]);
  });

  it('fromState rejects a corrupted state', () => {
    const state = createTdc({ targetBits: 8, group: 1 }).state;
    expect(() => fromState({ ...state, lambda: -1 })).toThrow('state.lambda must be a finite number > 0');
    expect(() => fromState({ ...state, version: 2 as never })).toThrow(TdcError);
    expect(() => createTdc({ targetBits: 4, group: 1 }).setState(state)).toThrow('must match this controller');
  });
});

describe('rate-collapse warning', () => {
  const low = stats(64, 0.01, 0, 0.05); // R̄ far below T/10 = 0.8 for T = 8
  const healthy = stats(64, 7.9, 7.2, 8.6);

  it('warns once when R̄ stays below T/10 for RATE_COLLAPSE_UPDATES updates in a row', () => {
    const messages: string[] = [];
    const tdc = createTdc({ targetBits: 8, group: 1, onRateCollapse: (m) => messages.push(m) });
    for (let i = 0; i < RATE_COLLAPSE_UPDATES - 1; i++) tdc.update(low);
    expect(messages).toHaveLength(0);
    tdc.update(low);
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatch(/^tdc\.update: the mean rate must approach the target of 8 bits.*summed per image/);
    for (let i = 0; i < 2 * RATE_COLLAPSE_UPDATES; i++) tdc.update(low);
    expect(messages).toHaveLength(1);
  });

  it('restarts the count when the rate recovers, and is silent with onRateCollapse: false', () => {
    const messages: string[] = [];
    const tdc = createTdc({ targetBits: 8, group: 1, onRateCollapse: (m) => messages.push(m) });
    for (let i = 0; i < 3 * RATE_COLLAPSE_UPDATES; i++) tdc.update(i % RATE_COLLAPSE_UPDATES === 50 ? healthy : low);
    expect(messages).toHaveLength(0);
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    try {
      const silent = fromState(createTdc({ targetBits: 8, group: 1 }).state, { onRateCollapse: false });
      for (let i = 0; i < 2 * RATE_COLLAPSE_UPDATES; i++) silent.update(low);
      expect(warn).not.toHaveBeenCalled();
      const loud = fromState(createTdc({ targetBits: 8, group: 1 }).state); // default: console.warn
      for (let i = 0; i < RATE_COLLAPSE_UPDATES; i++) loud.update(low);
      expect(warn).toHaveBeenCalledTimes(1);
    } finally {
      warn.mockRestore();
    }
    expect(RATE_COLLAPSE_FRACTION * 8).toBeGreaterThan(low.mean);
  });

  it('rejects a handler that is not a function', () => {
    expect(() => createTdc({ targetBits: 8, group: 1, onRateCollapse: 'warn' as unknown as false })).toThrow(/onRateCollapse must be a function or false, got string/);
  });
});
