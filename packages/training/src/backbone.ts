import type * as tf from '@tensorflow/tfjs-core';
import * as unet from '@gq/vae-unet';
import * as vit from '@gq/vae-vit';
import type { Backbone } from './config.js';

type Params = Record<string, tf.Tensor>;

/** Fresh seeded weights of the run's VAE (plain tensors; the caller wraps or disposes them). */
export function initBackbone(backbone: Backbone, seed: number): Params {
  return backbone.arch === 'unet' ? unet.init(backbone.model, seed) : vit.init(backbone.model, seed);
}

/**
 * Posterior moments in the VAE's own latent layout: UNet `[B, h, w, C]`, ViT `[B, L, C]`; log σ²
 * clamped to [−30, 20]. Baselines use only μ: the encoder still emits 2C channels (so one VAE
 * config serves every method) and the log-variance half gets no gradient and stays unused.
 */
export function encodeLatent(backbone: Backbone, params: Params, x: tf.Tensor4D): { mu: tf.Tensor; logVar: tf.Tensor } {
  return backbone.arch === 'unet' ? unet.encode(backbone.model, params, x) : vit.encode(backbone.model, params, x);
}

/** Decode a latent in the VAE's layout to images `[B, H, W, 3]`. */
export function decodeLatent(backbone: Backbone, params: Params, z: tf.Tensor): tf.Tensor4D {
  return backbone.arch === 'unet' ? unet.decode(backbone.model, params, z as tf.Tensor4D) : vit.decode(backbone.model, params, z as tf.Tensor3D);
}

