import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { seededRandom, setupBackend } from '@gq/test-utils';
import { MS_SSIM_MIN_SIDE, MetricsError, msSsim } from '@gq/metrics';
import { msSsimOracle, toSigned, type Image64 } from './oracle.js';

beforeAll(async () => {
  await setupBackend('cpu');
});

/** Smooth image on [0, 255] plus a noisy copy, so every scale's cs stays well above 0. */
function pair(height: number, width: number, channels: number, seed: number, noise: number): [Image64, Image64] {
  const rand = seededRandom(seed);
  const a = new Float64Array(height * width * channels);
  const b = new Float64Array(a.length);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < channels; c++) {
        const v = 128 + 90 * Math.sin(x / 7 + c) * Math.cos(y / 11) + 20 * (rand() - 0.5);
        const i = (y * width + x) * channels + c;
        a[i] = Math.round(v);
        b[i] = a[i]! + noise * (rand() - 0.5);
      }
    }
  }
  return [
    { height, width, channels, data: a },
    { height, width, channels, data: b },
  ];
}

describe('msSsim', () => {
  it('matches a float64 oracle with odd sides at several scales (161×170 RGB)', async () => {
    const [a, b] = pair(161, 170, 3, 1, 60);
    const want = msSsimOracle(a, b);
    const x = tf.tensor4d(toSigned(a.data), [1, 161, 170, 3]);
    const y = tf.tensor4d(toSigned(b.data), [1, 161, 170, 3]);
    const got = await msSsim(x, y);
    tf.dispose([x, y]);
    expect(want).toBeGreaterThan(0.5);
    expect(want).toBeLessThan(0.99);
    // Float32 moments of 161×170 maps; the single-scale SSIM agrees to ~1e-7, the product of
    // five powers ≤ 1 cannot amplify that beyond a few units of 1e-7.
    expect(Math.abs(got.mean - want)).toBeLessThan(1e-6);
  });

  it('matches the oracle on gray 200×163 and is 1 for identical images', async () => {
    const [a, b] = pair(200, 163, 1, 2, 120);
    const x = tf.tensor4d(toSigned(a.data), [1, 200, 163, 1]);
    const y = tf.tensor4d(toSigned(b.data), [1, 200, 163, 1]);
    const got = await msSsim(x, y);
    const same = await msSsim(x, x);
    tf.dispose([x, y]);
    expect(Math.abs(got.mean - msSsimOracle(a, b))).toBeLessThan(1e-6);
    expect(Math.abs(same.mean - 1)).toBeLessThan(1e-6);
  });

  it('throws below 161 px per side', async () => {
    expect(MS_SSIM_MIN_SIDE).toBe(161);
    const x = tf.zeros([1, 160, 300, 3]);
    await expect(msSsim(x, x)).rejects.toThrow('msSsim: MS-SSIM needs ≥161 px per side (5 scales, 11-px window); got 160×300');
    await expect(msSsim(x, x)).rejects.toBeInstanceOf(MetricsError);
    tf.dispose(x);
  });
});
