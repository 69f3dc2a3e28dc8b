import * as tf from '@tensorflow/tfjs-core';
import { MetricsError } from './errors.js';

/**
 * How pixel values relate to the metric's peak value L.
 * - `[lo, hi]`: values nominally span [lo, hi]; they are measured as `v − lo` with L = hi − lo.
 *   The default `[-1, 1]` is the reference's convention: equivalent to `(v + 1)·127.5` with L = 255
 *   (PSNR and SSIM are unchanged by a common scale when L scales with it).
 * - a number D: values are already on [0, D] and L = D (e.g. 255 for uint8-valued images).
 */
export type DataRange = number | readonly [number, number];

export interface ResolvedRange {
  /** Value that maps to 0 on the reference scale. */
  readonly low: number;
  /** Peak signal L. */
  readonly peak: number;
}

export function resolveRange(fn: string, range: DataRange | undefined): ResolvedRange {
  if (range === undefined) return { low: -1, peak: 2 };
  if (typeof range === 'number') {
    if (!Number.isFinite(range) || range <= 0) {
      throw new MetricsError('bad-option', `${fn}: dataRange must be a finite number > 0 or [lo, hi] with lo < hi, got ${range}`);
    }
    return { low: 0, peak: range };
  }
  if (!Array.isArray(range) || range.length !== 2) {
    throw new MetricsError('bad-option', `${fn}: dataRange must be a number or a pair [lo, hi], got ${JSON.stringify(range)}`);
  }
  const [lo, hi] = range as readonly [number, number];
  if (!Number.isFinite(lo) || !Number.isFinite(hi) || !(hi > lo)) {
    throw new MetricsError('bad-option', `${fn}: dataRange [lo, hi] must be finite with lo < hi, got [${lo}, ${hi}]`);
  }
  return { low: lo, peak: hi - lo };
}

function describe(t: tf.Tensor): string {
  return `[${t.shape.join(',')}]`;
}

/**
 * Checks an image pair and returns both as float32 NHWC tensors the caller must dispose
 * (new handles even when no cast or reshape was needed, so disposal is uniform).
 */
export function imagePair(fn: string, x: tf.Tensor, y: tf.Tensor): [tf.Tensor4D, tf.Tensor4D] {
  if (!(x instanceof tf.Tensor) || !(y instanceof tf.Tensor)) {
    throw new MetricsError('bad-dtype', `${fn}: x and y must be tf.Tensor images [B,H,W,C] or [H,W,C]`);
  }
  for (const [name, t] of [['x', x], ['y', y]] as const) {
    if (t.rank !== 4 && t.rank !== 3) {
      throw new MetricsError('bad-shape', `${fn}: ${name} must have rank 4 [B,H,W,C] or 3 [H,W,C], got shape ${describe(t)}`);
    }
    if (t.dtype !== 'float32' && t.dtype !== 'int32') {
      throw new MetricsError('bad-dtype', `${fn}: ${name} must be float32 (or int32), got ${t.dtype}`);
    }
    if (t.size === 0) {
      throw new MetricsError('empty', `${fn}: ${name} must not be empty, got shape ${describe(t)}`);
    }
  }
  if (x.rank !== y.rank || x.shape.some((d, i) => d !== y.shape[i])) {
    throw new MetricsError('bad-shape', `${fn}: x and y must have the same shape, got ${describe(x)} and ${describe(y)}`);
  }
  return tf.tidy(() => {
    const as4d = (t: tf.Tensor): tf.Tensor4D => {
      const f = t.dtype === 'float32' ? tf.clone(t) : tf.cast(t, 'float32');
      return (f.rank === 3 ? tf.expandDims(f, 0) : f) as tf.Tensor4D;
    };
    return [as4d(x), as4d(y)];
  });
}

export function positiveInteger(fn: string, name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new MetricsError('bad-option', `${fn}: ${name} must be a positive integer, got ${value}`);
  }
  return value;
}
