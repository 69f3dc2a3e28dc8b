import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { seededNormal, setupBackend } from '@gq/test-utils';
import { createTdc, klBits, vanillaKl, type TdcMode, type TdcStatsHandle } from '@gq/tdc';

/*
 * Free per-token posteriors (μ, ℓ) for 2 images × 16 tokens × m = 4 dimensions, decoded by the
 * identity, so the expected distortion is E‖μ + σε − x‖² = ‖μ − x‖² + Σσ². Token u weighs its
 * distortion by a precision c_u spanning two decades, so the rate each token "wants" differs by
 * ~12 bits between tokens.
 */
const B = 2;
const L = 16;
const M = 4;
const T = 8;
const ALPHA = 0.5;
const STEPS = 520;
/** Every token must be (and stay) within the slackened band from this step on. */
const SETTLE_BY = 480;
/** Adam lr 0.05 until here, then 0.005: the controller needs ~ln(50)/ln(1.01) ≈ 400 steps to grow λ_max. */
const FINE_FROM = 450;
/*
 * Tokens whose preferred rate lies outside the band settle exactly on a band edge (inside the band
 * the KL pull wins, outside it the distortion pull wins), so each optimiser step moves them back
 * and forth across the edge. One Adam step at lr 0.005 moves each of the 4·2 parameters of a token
 * by ≲ 0.005, i.e. R by ≲ 8·0.005·(1/ln 2)·max(½|e^ℓ−1|, |μ|) ≈ 0.05 bits: that is the slack.
 */
const EDGE_SLACK = 0.05;

function problem(): { x: tf.Tensor3D; precision: tf.Tensor3D } {
  const normal = seededNormal(7);
  const x = Float32Array.from({ length: B * L * M }, () => normal());
  const c = new Float32Array(B * L * M);
  for (let b = 0; b < B; b++) {
    for (let u = 0; u < L; u++) {
      const value = 10 ** (1 + (2 * ((u * 7 + b * 3) % L)) / (L - 1));
      c.fill(value, (b * L + u) * M, (b * L + u + 1) * M);
    }
  }
  return { x: tf.tensor3d(x, [B, L, M]), precision: tf.tensor3d(c, [B, L, M]) };
}

function distortion(mu: tf.Tensor, logVar: tf.Tensor, x: tf.Tensor, precision: tf.Tensor): tf.Scalar {
  return tf.div(tf.sum(tf.mul(precision, tf.add(tf.square(tf.sub(mu, x)), tf.exp(logVar)))), B) as tf.Scalar;
}

interface Run {
  rates: Float32Array;
  /** First step from which every token stayed within the slackened band up to the end. */
  settledFrom: number;
  lambdaMin: number;
  lambdaMax: number;
}

async function train(regulariser: TdcMode | 'vanilla'): Promise<Run> {
  const { x, precision } = problem();
  // tf.variable shares the initial tensor's data, so build both inside tidy to release the initialisers.
  const [mu, logVar] = tf.tidy(() => [tf.variable(tf.zeros([B, L, M])), tf.variable(tf.zeros([B, L, M]))]);
  const optimizers = [tf.train.adam(0.05), tf.train.adam(0.005)];
  const tdc = createTdc({ targetBits: T, group: M, tolerance: ALPHA, weight: 1, mode: regulariser === 'vanilla' ? 'tdc' : regulariser });
  let settledFrom = -1;
  for (let step = 0; step < STEPS; step++) {
    let handle: TdcStatsHandle | undefined;
    optimizers[step < FINE_FROM ? 0 : 1]!.minimize(() => {
      const d = distortion(mu, logVar, x, precision);
      if (regulariser === 'vanilla') return tf.add(d, vanillaKl(mu, logVar, { weight: 1 })) as tf.Scalar;
      const { loss, stats } = tdc.loss(mu, logVar);
      handle = stats;
      return tf.add(d, loss) as tf.Scalar;
    });
    if (handle) {
      const stats = await handle.read();
      const settled = stats.min >= T - ALPHA - EDGE_SLACK && stats.max <= T + ALPHA + EDGE_SLACK;
      if (!settled) settledFrom = -1;
      else if (settledFrom < 0) settledFrom = step;
      tdc.update(stats);
    }
  }
  const bits = klBits(mu, logVar, { group: M });
  const rates = (await bits.data()) as Float32Array;
  tf.dispose([bits, x, precision, mu, logVar]);
  optimizers.forEach((o) => o.dispose());
  return { rates, settledFrom, lambdaMin: tdc.state.lambdaMin, lambdaMax: tdc.state.lambdaMax };
}

const mean = (a: Float32Array): number => a.reduce((s, v) => s + v, 0) / a.length;
const spread = (a: Float32Array): number => Math.max(...a) - Math.min(...a);
const inBandFraction = (a: Float32Array): number => a.filter((r) => r >= T - ALPHA && r <= T + ALPHA).length / a.length;

describe('toy experiment: TDC vs vanilla KL on free per-token posteriors', () => {
  beforeAll(async () => {
    await setupBackend('cpu');
  });

  it('TDC brings every token into [T − α, T + α] (up to one optimiser step) within a bounded number of steps', async () => {
    const start = tf.memory().numTensors;
    const run = await train('tdc');
    expect(run.settledFrom).toBeGreaterThanOrEqual(0);
    expect(run.settledFrom).toBeLessThanOrEqual(SETTLE_BY);
    expect(Math.min(...run.rates)).toBeGreaterThanOrEqual(T - ALPHA - EDGE_SLACK);
    expect(Math.max(...run.rates)).toBeLessThanOrEqual(T + ALPHA + EDGE_SLACK);
    expect(Math.abs(mean(run.rates) - T)).toBeLessThanOrEqual(ALPHA);
    // Both tails existed, so the tier weights moved away from 1 (§8 claim 11).
    expect(run.lambdaMin).toBeLessThan(1);
    expect(run.lambdaMax).toBeGreaterThan(1);
    expect(tf.memory().numTensors).toBe(start);
  });

  it('with only the global λ (matched mean rate) or a fixed-weight KL, the spread stays wide', async () => {
    const globalOnly = await train('globalOnly');
    expect(Math.abs(mean(globalOnly.rates) - T)).toBeLessThanOrEqual(ALPHA);
    expect(spread(globalOnly.rates)).toBeGreaterThan(8);
    expect(inBandFraction(globalOnly.rates)).toBeLessThan(0.25);
    expect(globalOnly.settledFrom).toBe(-1);

    const vanilla = await train('vanilla');
    expect(spread(vanilla.rates)).toBeGreaterThan(8);
    expect(inBandFraction(vanilla.rates)).toBeLessThan(0.25);
  });
});
