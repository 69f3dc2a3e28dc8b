import * as tf from '@tensorflow/tfjs-core';
import { LOG_VAR_MAX, LOG_VAR_MIN } from '@gq/core';
import { NnError } from './errors.js';

/** Options of `splitMoments`. */
export interface SplitMomentsOptions {
  /**
   * Clamp log σ² to @gq/core's `LOG_VAR_RANGE`, [−30, 20], so exp() stays finite in float32
   * (default true). `false` returns the encoder's raw values.
   */
  readonly clampLogVar?: boolean;
}

/**
 * Split a Gaussian encoder's output along its last axis: channels 0..C−1 are μ, C..2C−1 log σ²
 * (the reference's `torch.chunk(moments, 2, dim=1)`, read channel-last).
 * @param moments [..., 2C] float32; not disposed
 * @param channels C
 * @returns μ and log σ², each [..., C] (caller disposes)
 */
export function splitMoments<T extends tf.Tensor>(moments: T, channels: number, options: SplitMomentsOptions = {}): { mu: T; logVar: T } {
  const last = moments.shape[moments.rank - 1];
  if (!Number.isInteger(channels) || channels <= 0 || last !== 2 * channels) {
    throw new NnError('bad-shape', `splitMoments: moments must have last dimension 2·channels=${2 * channels}, got [${moments.shape.join(',')}]`);
  }
  return tf.tidy(() => {
    const [mu, raw] = tf.split(moments, 2, -1) as [T, T];
    const logVar = options.clampLogVar === false ? raw : (tf.clipByValue(raw, LOG_VAR_MIN, LOG_VAR_MAX) as T);
    return { mu, logVar };
  });
}
