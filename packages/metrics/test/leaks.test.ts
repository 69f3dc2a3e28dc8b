import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { seededRandom, setupBackend, tensorGrowth } from '@gq/test-utils';
import { frechetDistance, largeErrorStats, msSsim, psnr, ssim } from '@gq/metrics';

beforeAll(async () => {
  await setupBackend('cpu');
});

const swallow = async (p: Promise<unknown>): Promise<void> => {
  await p.catch(() => undefined);
};

describe('no tensor leaks', () => {
  it('on success paths', async () => {
    const rand = seededRandom(1);
    const x = tf.tensor4d(Float32Array.from({ length: 2 * 24 * 24 * 3 }, () => rand() * 2 - 1), [2, 24, 24, 3]);
    const y = tf.tensor4d(Float32Array.from({ length: 2 * 24 * 24 * 3 }, () => rand() * 2 - 1), [2, 24, 24, 3]);
    const big = tf.fill([1, 161, 161, 1], 0.25);
    const xi = tf.cast(tf.mul(tf.add(x, 1), 100), 'int32');
    const single = tf.squeeze(tf.slice(x, 0, 1), [0]);
    const featuresX = tf.reshape(x, [-1, 3]);
    const featuresY = tf.reshape(y, [-1, 3]);
    const growth = await tensorGrowth(async () => {
      await psnr(x, y);
      await ssim(x, y);
      await ssim(single, single);
      await ssim(xi, xi, { dataRange: 255 });
      await msSsim(big, big);
      await largeErrorStats(x, y, x, { tokenDim: 3 });
      await frechetDistance(featuresX, featuresY);
    });
    expect(growth).toBe(0);
    tf.dispose([single, featuresX, featuresY]);
    tf.dispose([x, y, big, xi]);
  });

  it('on library calls alone, and when they throw', async () => {
    const x = tf.zeros([1, 16, 16, 3]);
    const y = tf.zeros([1, 16, 16, 3]);
    const small = tf.zeros([1, 10, 10, 3]);
    const nan = tf.fill([1, 16, 16, 3], NaN);
    const growth = await tensorGrowth(async () => {
      await psnr(x, y);
      await ssim(x, y);
      await swallow(ssim(small, small));
      await swallow(msSsim(x, y));
      await swallow(psnr(x, nan));
      await swallow(ssim(x, nan));
      await swallow(largeErrorStats(x, nan, x));
      await swallow(psnr(x, small));
    });
    expect(growth).toBe(0);
    tf.dispose([x, y, small, nan]);
  });
});
