import * as tf from '@tensorflow/tfjs-core';
import * as unet from '@gq/vae-unet';
import * as vit from '@gq/vae-vit';

/*
 * The models the engine bench trains: UNet tiny32 and cpu32, ViT cpu32, with the loss
 * (mean L1 reconstruction + 0.1·KL per image of the reparameterised posterior) and Adam, so a
 * step does the work a training run does.
 */

/** Names of the benched models. */
export const benchModels = ['unet-tiny32', 'unet-cpu32', 'vit-cpu32'] as const;
export type BenchModelName = (typeof benchModels)[number];

/** One benched model: its parameters and the three things timed. */
export interface BenchModel {
  readonly params: Record<string, tf.Variable>;
  /** Posterior mean and log-variance of images [B, 32, 32, 3] (caller disposes). */
  encode(x: tf.Tensor4D): { mu: tf.Tensor; logVar: tf.Tensor };
  /** Images from a latent (caller disposes). */
  decode(z: tf.Tensor): tf.Tensor4D;
  /** The training loss of a batch, differentiable in `params`. */
  loss(x: tf.Tensor4D, seed: number): tf.Scalar;
  dispose(): void;
}

/** Build a benched model with seeded weights. */
export function createBenchModel(name: BenchModelName, seed: number): BenchModel {
  const [arch, preset] = name.split('-') as ['unet' | 'vit', string];
  const initial =
    arch === 'unet'
      ? unet.init(unet.unetPresets[preset as keyof typeof unet.unetPresets], seed)
      : vit.init(vit.vitPresets[preset as keyof typeof vit.vitPresets], seed);
  const params: Record<string, tf.Variable> = {};
  for (const [key, value] of Object.entries(initial)) params[key] = tf.variable(value, true, `${name}/${key}`);
  tf.dispose(Object.values(initial));
  const encode = (x: tf.Tensor4D): { mu: tf.Tensor; logVar: tf.Tensor } =>
    arch === 'unet'
      ? unet.encode(unet.unetPresets[preset as keyof typeof unet.unetPresets], params, x)
      : vit.encode(vit.vitPresets[preset as keyof typeof vit.vitPresets], params, x);
  const decode = (z: tf.Tensor): tf.Tensor4D =>
    arch === 'unet'
      ? unet.decode(unet.unetPresets[preset as keyof typeof unet.unetPresets], params, z as tf.Tensor4D)
      : vit.decode(vit.vitPresets[preset as keyof typeof vit.vitPresets], params, z as tf.Tensor3D);
  return {
    params,
    encode,
    decode,
    loss: (x, noiseSeed) =>
      tf.tidy(() => {
        const batch = x.shape[0];
        const { mu, logVar } = encode(x);
        const z = tf.add(mu, tf.mul(tf.exp(tf.mul(logVar, 0.5)), tf.randomNormal(mu.shape, 0, 1, 'float32', noiseSeed)));
        const reconstruction = decode(z);
        const l1 = tf.mean(tf.abs(tf.sub(x, reconstruction)));
        const kl = tf.div(tf.mul(0.5, tf.sum(tf.sub(tf.add(tf.square(mu), tf.exp(logVar)), tf.add(1, logVar)))), batch);
        return tf.add(l1, tf.mul(0.1, kl)) as tf.Scalar;
      }),
    dispose: () => tf.dispose(Object.values(params)),
  };
}
