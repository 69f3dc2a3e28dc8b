import * as tf from '@tensorflow/tfjs-core';
import { MetricsError } from './errors.js';
import { SSIM_WINDOW_SIZE } from './gaussian-window.js';
import { imagePair, positiveInteger, resolveRange } from './image-input.js';
import { meanOf } from './result.js';
import { checkFinite, ssimChannelMeans, withShift, type SsimOptions, type SsimResult } from './ssim.js';

/** Scale weights of Wang et al. (2003), as pytorch_msssim. */
export const MS_SSIM_WEIGHTS: readonly number[] = [0.0448, 0.2856, 0.3001, 0.2363, 0.1333];
/** Smallest side that keeps the coarsest of 5 scales at least one 11-px window wide: 10·2^4 + 1. */
export const MS_SSIM_MIN_SIDE = (SSIM_WINDOW_SIZE - 1) * 2 ** (MS_SSIM_WEIGHTS.length - 1) + 1;

/**
 * 2×2 average pooling with stride 2 that first prepends one zero row (column) on an odd side and
 * always divides by 4: PyTorch `avg_pool2d(kernel 2, padding = side mod 2)`, as pytorch_msssim.
 */
function halve(image: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const [, height, width] = image.shape;
    const padded = tf.pad(image, [[0, 0], [height % 2, 0], [width % 2, 0], [0, 0]]);
    return tf.avgPool(padded, 2, 2, 'valid');
  });
}

/**
 * Multi-scale SSIM over 5 scales: Π_{i<5} relu(cs_i)^{w_i} · relu(ssim_5)^{w_5} per channel, then
 * the mean over channels, per image. Needs min(H, W) ≥ 161.
 *
 * @param x [B,H,W,C] or [H,W,C] float32 reference images
 * @param y same shape, reconstructions
 */
export async function msSsim(x: tf.Tensor, y: tf.Tensor, options: SsimOptions = {}): Promise<SsimResult> {
  const fn = 'msSsim';
  const { low, peak } = resolveRange(fn, options.dataRange);
  const chunkSize = options.chunkSize === undefined ? undefined : positiveInteger(fn, 'chunkSize', options.chunkSize);
  const [a, b] = imagePair(fn, x, y);
  const [batch, height, width, channels] = a.shape;
  if (Math.min(height, width) < MS_SSIM_MIN_SIDE) {
    tf.dispose([a, b]);
    throw new MetricsError(
      'image-too-small',
      `${fn}: MS-SSIM needs ≥${MS_SSIM_MIN_SIDE} px per side (5 scales, 11-px window); got ${height}×${width}`,
    );
  }
  const product = new Float64Array(batch * channels).fill(1);
  try {
    // The zero padding of the pooling must be 0 on the reference scale, hence the shift first.
    await withShift(a, b, low, async (xs, ys) => {
      let current: [tf.Tensor4D, tf.Tensor4D] = [xs, ys];
      try {
        for (let scale = 0; scale < MS_SSIM_WEIGHTS.length; scale++) {
          const means = await ssimChannelMeans(current[0], current[1], peak, chunkSize);
          const last = scale === MS_SSIM_WEIGHTS.length - 1;
          const values = last ? means.ssim : means.cs;
          checkFinite(fn, values, `scale ${scale + 1} value of image·channel`);
          const weight = MS_SSIM_WEIGHTS[scale]!;
          for (let i = 0; i < values.length; i++) product[i] = product[i]! * Math.max(values[i]!, 0) ** weight;
          if (!last) {
            const next: [tf.Tensor4D, tf.Tensor4D] = [halve(current[0]), halve(current[1])];
            if (current[0] !== xs) tf.dispose(current);
            current = next;
          }
        }
      } finally {
        if (current[0] !== xs) tf.dispose(current);
      }
    });
  } finally {
    tf.dispose([a, b]);
  }
  const perImage = new Float64Array(batch);
  for (let i = 0; i < batch; i++) {
    let sum = 0;
    for (let c = 0; c < channels; c++) sum += product[i * channels + c]!;
    perImage[i] = sum / channels;
  }
  return { perImage, mean: meanOf(perImage), count: batch, perChannel: product, channels };
}
