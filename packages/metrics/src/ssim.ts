import * as tf from '@tensorflow/tfjs-core';
import { MetricsError } from './errors.js';
import { gaussianTaps, SSIM_WINDOW_SIZE } from './gaussian-window.js';
import { imagePair, positiveInteger, resolveRange, type DataRange } from './image-input.js';
import { meanOf, type ImageMetric } from './result.js';

const K1 = 0.01;
const K2 = 0.03;
/** Default bound on the moment stack (5 maps per image) per device step: 2^22 values, 16 MiB. */
const VALUES_PER_STEP = 1 << 22;

/** Options of `ssim` (and `msSsim`). */
export interface SsimOptions {
  /** Pixel range of the inputs; default `[-1, 1]` (the reference's `(v + 1)·127.5` mapping). */
  readonly dataRange?: DataRange;
  /**
   * Images filtered per device step (bounds peak memory; results do not depend on it). Default:
   * as many as keep the 5 moment maps within 2^22 values.
   */
  readonly chunkSize?: number;
}

/** What `ssim` and `msSsim` return: per-image and per-channel values and their mean. */
export interface SsimResult extends ImageMetric {
  /** Per-image, per-channel SSIM, row-major [B, C]. */
  readonly perChannel: Float64Array;
  readonly channels: number;
}

interface ChannelMeans {
  /** [B·C] mean of the SSIM map per image and channel. */
  readonly ssim: Float64Array;
  /** [B·C] mean of the contrast–structure map per image and channel. */
  readonly cs: Float64Array;
}

/**
 * Mean SSIM and contrast–structure maps per image and channel, for images already shifted so that
 * the range's low end is 0 (the luminance term depends on absolute means). Does not dispose x, y.
 */
export async function ssimChannelMeans(
  x: tf.Tensor4D,
  y: tf.Tensor4D,
  peak: number,
  chunkSize: number | undefined,
): Promise<ChannelMeans> {
  const [batch, height, width, channels] = x.shape;
  const outH = height - SSIM_WINDOW_SIZE + 1;
  const outW = width - SSIM_WINDOW_SIZE + 1;
  const c1 = (K1 * peak) ** 2;
  const c2 = (K2 * peak) ** 2;
  const taps = Float32Array.from(gaussianTaps());
  const tiled = new Float32Array(SSIM_WINDOW_SIZE * channels);
  for (let k = 0; k < SSIM_WINDOW_SIZE; k++) tiled.fill(taps[k]!, k * channels, (k + 1) * channels);
  const rowFilter = tf.tensor4d(tiled, [SSIM_WINDOW_SIZE, 1, channels, 1]);
  const colFilter = tf.tensor4d(tiled, [1, SSIM_WINDOW_SIZE, channels, 1]);

  const ssim = new Float64Array(batch * channels);
  const cs = new Float64Array(batch * channels);
  const step = chunkSize ?? Math.max(1, Math.floor(VALUES_PER_STEP / (height * width * 5 * channels)));
  try {
    for (let start = 0; start < batch; start += step) {
      const count = Math.min(step, batch - start);
      const [ssimRows, csRows] = tf.tidy(() => {
        const xs = tf.slice(x, [start, 0, 0, 0], [count, height, width, channels]);
        const ys = tf.slice(y, [start, 0, 0, 0], [count, height, width, channels]);
        // Centre each image-channel on the pair's mean before forming second moments:
        // σ² = E[X²] − μ² cancels catastrophically in float32 when μ is near 255.
        const centre = tf.mul(tf.mean(tf.add(xs, ys), [1, 2], true), 0.5);
        const xc = tf.sub(xs, centre);
        const yc = tf.sub(ys, centre);
        // Stacked along the batch axis: slicing the last axis apart again is a strided gather that
        // costs more than the filtering on the cpu and wasm backends.
        const moments = tf.concat([xc, yc, tf.square(xc), tf.square(yc), tf.mul(xc, yc)], 0) as tf.Tensor4D;
        // 'valid' filtering: the map covers only pixels whose whole window lies inside the image.
        const filtered = tf.depthwiseConv2d(tf.depthwiseConv2d(moments, rowFilter, 1, 'valid'), colFilter, 1, 'valid');
        const [muXc, muYc, exx, eyy, exy] = tf.split(filtered, 5, 0);
        const sxx = tf.sub(exx!, tf.square(muXc!));
        const syy = tf.sub(eyy!, tf.square(muYc!));
        const sxy = tf.sub(exy!, tf.mul(muXc!, muYc!));
        const muX = tf.add(muXc!, centre);
        const muY = tf.add(muYc!, centre);
        const csMap = tf.div(tf.add(tf.mul(sxy, 2), c2), tf.add(tf.add(sxx, syy), c2));
        const luminance = tf.div(
          tf.add(tf.mul(tf.mul(muX, muY), 2), c1),
          tf.add(tf.add(tf.square(muX), tf.square(muY)), c1),
        );
        // Sum over columns here and over rows in float64 below.
        return [tf.sum(tf.mul(luminance, csMap), 2), tf.sum(csMap, 2)];
      });
      try {
        const [ssimData, csData] = await Promise.all([ssimRows.data(), csRows.data()]);
        const area = outH * outW;
        for (let i = 0; i < count; i++) {
          for (let c = 0; c < channels; c++) {
            let sumSsim = 0;
            let sumCs = 0;
            for (let r = 0; r < outH; r++) {
              const at = (i * outH + r) * channels + c;
              sumSsim += ssimData[at]!;
              sumCs += csData[at]!;
            }
            ssim[(start + i) * channels + c] = sumSsim / area;
            cs[(start + i) * channels + c] = sumCs / area;
          }
        }
      } finally {
        tf.dispose([ssimRows, csRows]);
      }
    }
  } finally {
    tf.dispose([rowFilter, colFilter]);
  }
  return { ssim, cs };
}

export function checkFinite(fn: string, values: Float64Array, what: string): void {
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i]!)) {
      throw new MetricsError('non-finite', `${fn}: x and y must be finite, ${what} ${i} is ${values[i]}`);
    }
  }
}

/**
 * Structural similarity per image: 11×11 Gaussian window (σ = 1.5) applied separably in 'valid'
 * mode, K1 = 0.01, K2 = 0.03, population moments; the map mean per channel, then the mean over
 * channels. Equals scikit-image's `structural_similarity(..., gaussian_weights=True, sigma=1.5,
 * use_sample_covariance=False)` and pytorch_msssim's `ssim`.
 *
 * @param x [B,H,W,C] or [H,W,C] float32 reference images, H, W ≥ 11
 * @param y same shape, reconstructions
 */
export async function ssim(x: tf.Tensor, y: tf.Tensor, options: SsimOptions = {}): Promise<SsimResult> {
  const fn = 'ssim';
  const { low, peak } = resolveRange(fn, options.dataRange);
  const chunkSize = options.chunkSize === undefined ? undefined : positiveInteger(fn, 'chunkSize', options.chunkSize);
  const [a, b] = imagePair(fn, x, y);
  const [batch, height, width, channels] = a.shape;
  if (height < SSIM_WINDOW_SIZE || width < SSIM_WINDOW_SIZE) {
    tf.dispose([a, b]);
    throw new MetricsError(
      'image-too-small',
      `${fn}: images must be at least 11×11 (11-px window, valid mode), got ${height}×${width}`,
    );
  }
  let means: ChannelMeans;
  try {
    means = await withShift(a, b, low, (xs, ys) => ssimChannelMeans(xs, ys, peak, chunkSize));
  } finally {
    tf.dispose([a, b]);
  }
  checkFinite(fn, means.ssim, 'SSIM of image·channel');
  const perImage = new Float64Array(batch);
  for (let i = 0; i < batch; i++) {
    let sum = 0;
    for (let c = 0; c < channels; c++) sum += means.ssim[i * channels + c]!;
    perImage[i] = sum / channels;
  }
  return { perImage, mean: meanOf(perImage), count: batch, perChannel: means.ssim, channels };
}

/** Runs `body` on `x − low`, `y − low` (the reference's [0, L] scale) and disposes the shifted copies. */
export async function withShift<T>(
  x: tf.Tensor4D,
  y: tf.Tensor4D,
  low: number,
  body: (xs: tf.Tensor4D, ys: tf.Tensor4D) => Promise<T>,
): Promise<T> {
  const xs = tf.sub(x, low) as tf.Tensor4D;
  const ys = tf.sub(y, low) as tf.Tensor4D;
  try {
    return await body(xs, ys);
  } finally {
    tf.dispose([xs, ys]);
  }
}
