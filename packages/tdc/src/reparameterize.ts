import * as tf from '@tensorflow/tfjs-core';
import { LOG_VAR_MAX, LOG_VAR_MIN } from '@gq/core';
import { TdcError } from './errors.js';
import { checkLatentPair } from './validate.js';

/** Options of `reparameterize`. */
export interface ReparameterizeOptions {
  /** Integer seed for ε ~ N(0, I); the same seed gives the same ε on the same backend. */
  readonly seed: number;
}

/**
 * z = μ + σ ⊙ ε with σ = exp(ℓ/2), ℓ clamped to [−30, 20], ε ~ N(0, I) drawn with `seed`.
 * Differentiable with respect to μ and ℓ.
 *
 * @param mu `[B, ..., C]` float32; @param logVar same shape. @returns same shape float32; caller disposes.
 */
export function reparameterize(mu: tf.Tensor, logVar: tf.Tensor, options: ReparameterizeOptions): tf.Tensor {
  const seed = options?.seed;
  if (typeof seed !== 'number' || !Number.isInteger(seed)) {
    throw new TdcError('bad-option', `reparameterize: seed must be an integer (randomness is explicit), got ${String(seed)}`);
  }
  checkLatentPair('reparameterize', mu, logVar, 1);
  return tf.tidy(() => {
    const epsilon = tf.randomNormal(mu.shape, 0, 1, 'float32', seed);
    const sigma = tf.exp(tf.mul(tf.clipByValue(logVar, LOG_VAR_MIN, LOG_VAR_MAX), tf.scalar(0.5)));
    return tf.add(mu, tf.mul(sigma, epsilon));
  });
}
