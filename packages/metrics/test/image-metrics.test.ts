import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { readFixtureJson, seededRandom, setupBackend } from '@gq/test-utils';
import { MetricsError, psnr, ssim } from '@gq/metrics';
import { psnrOracle, ssimOracle, toSigned, type Image64 } from './oracle.js';

interface FixturePair {
  id: string;
  height: number;
  width: number;
  channels: number;
  a: number[];
  b: number[];
}
interface FixtureExpected {
  id: string;
  psnr_skimage_f64: number;
  ssim_skimage_f64: number;
  ssim_skimage_defaults_f64_NOT_TARGET: number;
}

// The fixture README allows 1e-4 dB (PSNR) and 1e-5 (SSIM) for float32 and the issue 1e-4 on
// both. Measured here on the cpu backend: ≤ 5.2e-7 dB and ≤ 7e-8 (centring each channel before
// forming second moments removes the float32 cancellation the README warns about), so the
// tolerances are tightened to 1e-5 dB and 1e-6, below the authors' own float32 deviation (1.5e-6).
const PSNR_TOL = 1e-5;
const SSIM_TOL = 1e-6;

const images = readFixtureJson<{ pairs: FixturePair[] }>('metrics', 'images.json').pairs;
const expected = readFixtureJson<{ pairs: FixtureExpected[] }>('metrics', 'expected.json').pairs;

function tensorOf(pair: FixturePair, data: ArrayLike<number>): tf.Tensor4D {
  return tf.tensor4d(Float32Array.from(data), [1, pair.height, pair.width, pair.channels]);
}

/** §7 synthetic pair: channels (8u, 8v, 4(u+v)) mod 256 vs the same plus 10·sin(u/3); u column, v row. */
function syntheticPair(): [Float64Array, Float64Array] {
  const a = new Float64Array(32 * 32 * 3);
  const b = new Float64Array(32 * 32 * 3);
  for (let v = 0; v < 32; v++) {
    for (let u = 0; u < 32; u++) {
      const base = [(8 * u) % 256, (8 * v) % 256, (4 * (u + v)) % 256];
      for (let c = 0; c < 3; c++) {
        a[(v * 32 + u) * 3 + c] = base[c]!;
        b[(v * 32 + u) * 3 + c] = base[c]! + 10 * Math.sin(u / 3);
      }
    }
  }
  return [a, b];
}

beforeAll(async () => {
  await setupBackend('cpu');
});

describe('fixture pairs (scikit-image and the reference)', () => {
  it('has six pairs in the same order in both files', () => {
    expect(images.map((p) => p.id)).toEqual(expected.map((p) => p.id));
    expect(images.length).toBe(6);
  });

  for (const [index, pair] of images.entries()) {
    const want = expected[index]!;
    it(`${pair.id}: PSNR and SSIM through the [-1, 1] eval path`, async () => {
      const x = tensorOf(pair, toSigned(pair.a));
      const y = tensorOf(pair, toSigned(pair.b));
      const p = await psnr(x, y);
      const s = await ssim(x, y);
      tf.dispose([x, y]);
      expect(p.count).toBe(1);
      expect(Math.abs(p.perImage[0]! - want.psnr_skimage_f64)).toBeLessThan(PSNR_TOL);
      expect(Math.abs(s.perImage[0]! - want.ssim_skimage_f64)).toBeLessThan(SSIM_TOL);
      expect(s.perChannel.length).toBe(pair.channels);
      if (pair.id !== 'p5_rgb64_onepixel') {
        // The 7×7 uniform-window, sample-covariance default of scikit-image is a different metric
        // (≥ 3.6e-3 away on these pairs, 360× the tolerance).
        expect(Math.abs(s.mean - want.ssim_skimage_defaults_f64_NOT_TARGET)).toBeGreaterThan(1e-3);
      }
    });

    it(`${pair.id}: PSNR and SSIM on the [0, 255] scale (dataRange 255)`, async () => {
      const x = tensorOf(pair, pair.a);
      const y = tensorOf(pair, pair.b);
      const p = await psnr(x, y, { dataRange: 255 });
      const s = await ssim(x, y, { dataRange: [0, 255] });
      tf.dispose([x, y]);
      expect(Math.abs(p.mean - want.psnr_skimage_f64)).toBeLessThan(PSNR_TOL);
      expect(Math.abs(s.mean - want.ssim_skimage_f64)).toBeLessThan(SSIM_TOL);
    });
  }

  it('batches all same-size pairs in one call, per image and mean', async () => {
    const rgb32 = images.filter((p) => p.height === 32 && p.channels === 3);
    const data = (key: 'a' | 'b') => Float32Array.from(rgb32.flatMap((p) => Array.from(toSigned(p[key]))));
    const x = tf.tensor4d(data('a'), [rgb32.length, 32, 32, 3]);
    const y = tf.tensor4d(data('b'), [rgb32.length, 32, 32, 3]);
    const s = await ssim(x, y);
    const p = await psnr(x, y);
    tf.dispose([x, y]);
    const want = rgb32.map((pair) => expected.find((e) => e.id === pair.id)!);
    expect(s.count).toBe(rgb32.length);
    want.forEach((w, i) => {
      expect(Math.abs(s.perImage[i]! - w.ssim_skimage_f64)).toBeLessThan(SSIM_TOL);
      expect(Math.abs(p.perImage[i]! - w.psnr_skimage_f64)).toBeLessThan(PSNR_TOL);
    });
    const meanSsim = want.reduce((acc, w) => acc + w.ssim_skimage_f64, 0) / want.length;
    expect(Math.abs(s.mean - meanSsim)).toBeLessThan(SSIM_TOL);
  });
});

describe('docs/algorithms.md §7 synthetic image', () => {
  it('gives SSIM 0.9606985589 and PSNR 31.3894473 dB', async () => {
    const [a, b] = syntheticPair();
    const x = tf.tensor4d(toSigned(a), [1, 32, 32, 3]);
    const y = tf.tensor4d(toSigned(b), [1, 32, 32, 3]);
    const s = await ssim(x, y);
    const p = await psnr(x, y);
    tf.dispose([x, y]);
    // §7 expects ~1e-6 agreement in float32.
    expect(Math.abs(s.mean - 0.9606985589)).toBeLessThan(2e-6);
    expect(Math.abs(p.mean - 31.3894473)).toBeLessThan(1e-4);
  });

  it('the float64 oracle reproduces the published values (validates the oracle)', () => {
    const [a, b] = syntheticPair();
    const img = (data: Float64Array): Image64 => ({ height: 32, width: 32, channels: 3, data });
    const s = ssimOracle(img(a), img(b)).ssim;
    expect(Math.abs((s[0]! + s[1]! + s[2]!) / 3 - 0.9606985589)).toBeLessThan(1e-10);
    expect(Math.abs(psnrOracle(img(a), img(b)) - 31.3894473)).toBeLessThan(1e-7);
  });
});

describe('float64 oracle on random images', () => {
  for (const [height, width, channels] of [[11, 11, 3], [64, 48, 3], [23, 17, 1]] as const) {
    it(`${height}×${width}×${channels}: SSIM per channel and PSNR`, async () => {
      const rand = seededRandom(height * 1000 + width * 10 + channels);
      const n = height * width * channels;
      const a = Float64Array.from({ length: n }, () => Math.round(255 * rand()));
      // Correlated test image (values may leave [0, 255]: reconstructions are not clamped).
      const b = a.map((v) => v + 30 * (rand() - 0.5) + 3);
      const img = (data: Float64Array): Image64 => ({ height, width, channels, data });
      const want = ssimOracle(img(a), img(b)).ssim;
      const x = tf.tensor4d(toSigned(a), [1, height, width, channels]);
      const y = tf.tensor4d(toSigned(b), [1, height, width, channels]);
      const s = await ssim(x, y);
      const p = await psnr(x, y);
      tf.dispose([x, y]);
      for (let c = 0; c < channels; c++) expect(Math.abs(s.perChannel[c]! - want[c]!)).toBeLessThan(SSIM_TOL);
      expect(Math.abs(p.mean - psnrOracle(img(a), img(b)))).toBeLessThan(PSNR_TOL);
    });
  }

  it('accepts a single [H,W,C] image', async () => {
    const rand = seededRandom(5);
    const a = Float32Array.from({ length: 16 * 16 * 3 }, () => rand() * 2 - 1);
    const b = a.map((v) => v * 0.9);
    const x3 = tf.tensor3d(a, [16, 16, 3]);
    const y3 = tf.tensor3d(b, [16, 16, 3]);
    const x4 = tf.expandDims(x3, 0);
    const y4 = tf.expandDims(y3, 0);
    expect((await ssim(x3, y3)).mean).toBe((await ssim(x4, y4)).mean);
    expect((await psnr(x3, y3)).mean).toBe((await psnr(x4, y4)).mean);
    tf.dispose([x3, y3, x4, y4]);
  });
});

describe('chunking', () => {
  it('results do not depend on chunkSize (5 images in chunks of 2 vs one step)', async () => {
    const rand = seededRandom(12);
    const data = Float32Array.from({ length: 5 * 20 * 20 * 3 }, () => rand() * 2 - 1);
    const x = tf.tensor4d(data, [5, 20, 20, 3]);
    const y = tf.tensor4d(data.map((v, i) => v + 0.3 * Math.sin(i)), [5, 20, 20, 3]);
    const whole = await ssim(x, y);
    const chunked = await ssim(x, y, { chunkSize: 2 });
    const single = await ssim(tf.slice(x, 4, 1), tf.slice(y, 4, 1));
    tf.dispose([x, y]);
    expect(Array.from(chunked.perChannel)).toEqual(Array.from(whole.perChannel));
    expect(Math.abs(single.mean - whole.perImage[4]!)).toBeLessThan(1e-7);
    await expect(ssim(x, y, { chunkSize: 0 })).rejects.toThrow(MetricsError);
  });
});

describe('analytic cases', () => {
  it('identical images: PSNR +∞ (not capped), SSIM 1', async () => {
    const rand = seededRandom(9);
    const x = tf.tensor4d(Float32Array.from({ length: 2 * 32 * 32 * 3 }, () => rand() * 2 - 1), [2, 32, 32, 3]);
    const p = await psnr(x, x);
    const s = await ssim(x, x);
    tf.dispose(x);
    expect(Array.from(p.perImage)).toEqual([Infinity, Infinity]);
    expect(p.mean).toBe(Infinity);
    for (const v of s.perImage) expect(Math.abs(v - 1)).toBeLessThan(1e-6);
  });

  it('x̂ = x + 0.02 everywhere gives 40 dB', async () => {
    const rand = seededRandom(10);
    const data = Float32Array.from({ length: 3 * 32 * 32 * 3 }, () => rand() * 1.9 - 0.95);
    const x = tf.tensor4d(data, [3, 32, 32, 3]);
    const y = tf.add(x, 0.02);
    const p = await psnr(x, y);
    tf.dispose([x, y]);
    // 0.02 in float32 arithmetic around values up to 1 carries ~6e-8 absolute error: ≤ 3e-5 dB.
    for (const v of p.perImage) expect(Math.abs(v - 40)).toBeLessThan(1e-4);
    // MSE on the 0–255 scale is 2.55² = 6.5025.
    for (const v of p.mse) expect(Math.abs(v - 6.5025)).toBeLessThan(1e-4);
  });

  it('is symmetric in x and y', async () => {
    const rand = seededRandom(11);
    const x = tf.tensor4d(Float32Array.from({ length: 32 * 32 * 3 }, () => rand() * 2 - 1), [1, 32, 32, 3]);
    const y = tf.tensor4d(Float32Array.from({ length: 32 * 32 * 3 }, () => rand() * 2 - 1), [1, 32, 32, 3]);
    const [pxy, pyx, sxy, syx] = [await psnr(x, y), await psnr(y, x), await ssim(x, y), await ssim(y, x)];
    tf.dispose([x, y]);
    expect(Math.abs(pxy.mean - pyx.mean)).toBeLessThan(1e-9);
    expect(Math.abs(sxy.mean - syx.mean)).toBeLessThan(1e-6);
    expect(sxy.mean).toBeLessThan(0.5);
  });

  it('int32 images on the 0–255 scale give the same values as float32', async () => {
    const pair = images[0]!;
    const xi = tf.tensor4d(Int32Array.from(pair.a), [1, 32, 32, 3], 'int32');
    const yi = tf.tensor4d(Int32Array.from(pair.b), [1, 32, 32, 3], 'int32');
    const s = await ssim(xi, yi, { dataRange: 255 });
    tf.dispose([xi, yi]);
    expect(Math.abs(s.mean - expected[0]!.ssim_skimage_f64)).toBeLessThan(SSIM_TOL);
  });
});

describe('errors', () => {
  const code = async (p: Promise<unknown>): Promise<string> => {
    try {
      await p;
    } catch (e) {
      expect(e).toBeInstanceOf(MetricsError);
      return (e as MetricsError).code;
    }
    return 'no error';
  };

  it('rejects mismatched shapes, bad ranks, dtypes, sizes, ranges and non-finite values', async () => {
    const a = tf.zeros([1, 16, 16, 3]);
    const b = tf.zeros([1, 16, 15, 3]);
    const small = tf.zeros([1, 10, 16, 3]);
    const rank2 = tf.zeros([16, 16]);
    const boolImage = tf.zeros([1, 16, 16, 3], 'bool');
    const nan = tf.fill([1, 16, 16, 3], NaN);
    expect(await code(psnr(a, b))).toBe('bad-shape');
    expect(await code(ssim(rank2, rank2))).toBe('bad-shape');
    expect(await code(ssim(boolImage, boolImage))).toBe('bad-dtype');
    expect(await code(ssim(small, small))).toBe('image-too-small');
    expect(await code(psnr(a, a, { dataRange: [1, 1] }))).toBe('bad-option');
    expect(await code(psnr(a, a, { dataRange: -2 }))).toBe('bad-option');
    expect(await code(psnr(a, nan))).toBe('non-finite');
    expect(await code(ssim(a, nan))).toBe('non-finite');
    await expect(ssim(small, small)).rejects.toThrow('ssim: images must be at least 11×11 (11-px window, valid mode), got 10×16');
    await expect(psnr(a, b)).rejects.toThrow('psnr: x and y must have the same shape, got [1,16,16,3] and [1,16,15,3]');
    tf.dispose([a, b, small, rank2, boolImage, nan]);
  });
});
