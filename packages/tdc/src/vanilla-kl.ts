import * as tf from '@tensorflow/tfjs-core';
import { BITS_PER_NAT, VANILLA_KL_WEIGHT } from '@gq/core';
import { channelBits } from './kl-bits.js';
import { checkLatentPair, finiteNumber } from './validate.js';

/** Options of `vanillaKl`. */
export interface VanillaKlOptions {
  /** Weight per bit (default `VANILLA_KL_WEIGHT` from @gq/core: the reference's 0.64 per nat, ≈ 0.4436 per bit). */
  readonly weight?: number;
  readonly bitsPerNat?: number;
}

/**
 * Fixed-weight Gaussian-VAE KL for ablations (§4.7): `weight · (1/B) · Σ_u R_u` in bits. The sum of
 * per-token rates over all tokens equals the sum over all channels, so no grouping is needed.
 *
 * @param mu `[B, ..., C]` float32; @param logVar same shape. @returns scalar float32; caller disposes.
 */
export function vanillaKl(mu: tf.Tensor, logVar: tf.Tensor, options: VanillaKlOptions = {}): tf.Scalar {
  const weight = finiteNumber('vanillaKl', 'weight', options.weight ?? VANILLA_KL_WEIGHT, 'nonNegative');
  const bitsPerNat = finiteNumber('vanillaKl', 'bitsPerNat', options.bitsPerNat ?? BITS_PER_NAT, 'positive');
  const { images } = checkLatentPair('vanillaKl', mu, logVar, 1);
  return tf.tidy(() => tf.mul(tf.sum(channelBits(mu, logVar, bitsPerNat)), tf.scalar(weight / images)) as tf.Scalar);
}
