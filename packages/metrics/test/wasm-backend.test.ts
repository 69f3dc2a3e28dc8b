import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { readFixtureJson, setupBackend, tensorGrowth } from '@gq/test-utils';
import { msSsim, psnr, ssim } from '@gq/metrics';
import { msSsimOracle, toSigned, type Image64 } from './oracle.js';

interface Pair { id: string; height: number; width: number; channels: number; a: number[]; b: number[] }
interface Expected { psnr_skimage_f64: number; ssim_skimage_f64: number }

const images = readFixtureJson<{ pairs: Pair[] }>('metrics', 'images.json').pairs;
const expected = readFixtureJson<{ pairs: Expected[] }>('metrics', 'expected.json').pairs;

beforeAll(async () => {
  await setupBackend('wasm');
});

describe('wasm backend (XNNPACK kernels, float32 accumulation order differs from cpu)', () => {
  it('runs on wasm', () => {
    expect(tf.getBackend()).toBe('wasm');
  });

  it('matches every fixture pair (SSIM 1e-5, PSNR 1e-4 dB) without leaks', async () => {
    let worstSsim = 0;
    let worstPsnr = 0;
    const growth = await tensorGrowth(async () => {
      for (const [i, pair] of images.entries()) {
        const shape: [number, number, number, number] = [1, pair.height, pair.width, pair.channels];
        const x = tf.tensor4d(toSigned(pair.a), shape);
        const y = tf.tensor4d(toSigned(pair.b), shape);
        worstSsim = Math.max(worstSsim, Math.abs((await ssim(x, y)).mean - expected[i]!.ssim_skimage_f64));
        worstPsnr = Math.max(worstPsnr, Math.abs((await psnr(x, y)).mean - expected[i]!.psnr_skimage_f64));
        tf.dispose([x, y]);
      }
    });
    expect(growth).toBe(0);
    // Same float32 budget as the README of the fixtures: 1e-5 for SSIM, 1e-4 dB for PSNR.
    expect(worstSsim).toBeLessThan(1e-5);
    expect(worstPsnr).toBeLessThan(1e-4);
  });

  it('MS-SSIM matches the float64 oracle on 165×161', async () => {
    const a = new Float64Array(165 * 161 * 3);
    const b = new Float64Array(a.length);
    for (let i = 0; i < a.length; i++) {
      a[i] = 128 + 100 * Math.sin(i / 97) * Math.cos(i / 1013);
      b[i] = a[i]! + 20 * Math.sin(i * 1.7);
    }
    const img = (data: Float64Array): Image64 => ({ height: 165, width: 161, channels: 3, data });
    const x = tf.tensor4d(toSigned(a), [1, 165, 161, 3]);
    const y = tf.tensor4d(toSigned(b), [1, 165, 161, 3]);
    const got = await msSsim(x, y);
    tf.dispose([x, y]);
    expect(Math.abs(got.mean - msSsimOracle(img(a), img(b)))).toBeLessThan(1e-5);
  });
});
