import * as tf from '@tensorflow/tfjs-core';
import { MetricsError } from './errors.js';
import { imagePair, resolveRange, type DataRange } from './image-input.js';
import { meanOf, type ImageMetric } from './result.js';

/** Options of `psnr`. */
export interface PsnrOptions {
  /** Pixel range of the inputs; default `[-1, 1]` (the reference's `(v + 1)·127.5` mapping). */
  readonly dataRange?: DataRange;
}

/** What `psnr` returns: per-image PSNR in dB, their mean, and the per-image MSE. */
export interface PsnrResult extends ImageMetric {
  /** Per-image mean squared error on the [0, 255] scale. */
  readonly mse: Float64Array;
}

/**
 * Peak signal-to-noise ratio per image, 10·log10(L² / MSE) with the MSE over all H·W·C values of
 * one image, then the mean over images. No clamping or rounding of either input. Identical images
 * give +∞.
 *
 * @param x [B,H,W,C] or [H,W,C] float32 reference images
 * @param y same shape, reconstructions
 */
export async function psnr(x: tf.Tensor, y: tf.Tensor, options: PsnrOptions = {}): Promise<PsnrResult> {
  const fn = 'psnr';
  const { peak } = resolveRange(fn, options.dataRange);
  const [a, b] = imagePair(fn, x, y);
  const [batch, height, width, channels] = a.shape;
  // Reduce channels, then columns on the device (short float32 sums on every backend), and the
  // remaining rows in float64 here, so the MSE of a 256² image keeps ~7 significant digits.
  const rowSums = tf.tidy(() => {
    const diff = tf.sub(a, b);
    return tf.sum(tf.sum(tf.square(diff), 3), 2);
  });
  let rows: Float32Array;
  try {
    rows = (await rowSums.data()) as Float32Array;
  } finally {
    tf.dispose([a, b, rowSums]);
  }
  const toByteScale = (255 / peak) ** 2;
  const mse = new Float64Array(batch);
  const perImage = new Float64Array(batch);
  for (let i = 0; i < batch; i++) {
    let sum = 0;
    for (let r = 0; r < height; r++) sum += rows[i * height + r]!;
    const m = (sum / (height * width * channels)) * toByteScale;
    if (!Number.isFinite(m)) {
      throw new MetricsError('non-finite', `${fn}: x and y must be finite, image ${i} has mean squared error ${m}`);
    }
    mse[i] = m;
    perImage[i] = m === 0 ? Infinity : 20 * Math.log10(255) - 10 * Math.log10(m);
  }
  return { perImage, mean: meanOf(perImage), count: batch, mse };
}
