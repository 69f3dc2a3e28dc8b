import type * as tf from '@tensorflow/tfjs-core';
import { checkParams, type ParamSpec, type ParamTree, type WeightEntry } from '@gq/nn';
import * as unet from '@gq/vae-unet';
import * as vit from '@gq/vae-vit';
import { describe, isPlainObject } from './bytes.js';
import { TokenizerError, rethrow } from './errors.js';

/** Which Gaussian VAE a tokenizer wraps. */
export type VaeArch = 'unet' | 'vit';

/** An architecture and its config, as stored in a manifest. */
export type VaeDescription =
  | { readonly arch: 'unet'; readonly config: unet.UnetConfig }
  | { readonly arch: 'vit'; readonly config: vit.VitConfig };

/** Image and latent geometry of a tokenizer. */
export interface Geometry {
  /** Image side lengths the tokenizer is built for and channels C_img. */
  readonly image: { readonly height: number; readonly width: number; readonly channels: number };
  /** Latent grid h×w (ViT: the patch grid) and latent channels C. */
  readonly latent: { readonly height: number; readonly width: number; readonly channels: number };
  /** Spatial downsampling factor f (UNet: 2^(levels−1); ViT: the patch size). */
  readonly factor: number;
}

const unetKeys = ['resolution', 'inChannels', 'outChannels', 'ch', 'chMult', 'numResBlocks', 'attnResolutions', 'zChannels', 'numGroups'] as const;
const vitKeys = ['imageSize', 'patchSize', 'width', 'layers', 'heads', 'mlpRatio', 'zChannels', 'dimFfnOutput'] as const;

/**
 * Hard upper bounds of every size in a config, far above any real model, checked before anything
 * is derived or enumerated from a config, so that a manifest cannot make the layer specs (or a
 * parameter tree) astronomically large. A config beyond them is `bad-config`.
 */
const unetBounds: Readonly<Record<string, number>> = {
  resolution: 65_536, inChannels: 64, outChannels: 64, ch: 4096, numResBlocks: 64, zChannels: 4096, numGroups: 4096,
  chMult: 16, chMultValue: 64, attnResolutions: 16,
};
const vitBounds: Readonly<Record<string, number>> = {
  imageSize: 65_536, patchSize: 65_536, width: 65_536, layers: 256, heads: 1024, mlpRatio: 64, zChannels: 4096, dimFfnOutput: 1 << 20,
};

function checkBounds(fn: string, arch: VaeArch, config: Record<string, unknown>): void {
  const bounds = arch === 'unet' ? unetBounds : vitBounds;
  const over = (what: string, limit: number, got: unknown): never => {
    throw new TokenizerError('bad-config', `${fn}: ${arch} config.${what} must be at most ${limit}, got ${describe(got)}`);
  };
  for (const [key, limit] of Object.entries(bounds)) {
    const value = config[key];
    if (Array.isArray(value)) {
      if (value.length > limit) over(`${key} length`, limit, value.length);
      const itemLimit = bounds[`${key}Value`];
      if (itemLimit !== undefined) for (const item of value) if (typeof item === 'number' && item > itemLimit) over(`${key} entries`, itemLimit, item);
    } else if (typeof value === 'number' && value > limit) {
      over(key, limit, value);
    }
  }
}

/**
 * Validate an architecture name and config, returning a plain copy holding exactly the known keys.
 * Unknown keys are rejected: a config field this version does not implement cannot be honoured.
 */
export function normalizeVae(fn: string, arch: unknown, config: unknown): VaeDescription {
  if (arch !== 'unet' && arch !== 'vit') {
    throw new TokenizerError('bad-arch', `${fn}: arch must be 'unet' or 'vit', got ${describe(arch)}`);
  }
  if (!isPlainObject(config)) throw new TokenizerError('bad-config', `${fn}: config must be an object, got ${describe(config)}`);
  const keys: readonly string[] = arch === 'unet' ? unetKeys : vitKeys;
  const unknown = Object.keys(config).filter((key) => !keys.includes(key));
  if (unknown.length > 0) {
    throw new TokenizerError('bad-config', `${fn}: ${arch} config must have only the keys ${keys.join(', ')}, got unknown ${unknown.join(', ')}`);
  }
  const copy: Record<string, unknown> = {};
  for (const key of keys) copy[key] = Array.isArray(config[key]) ? [...(config[key] as unknown[])] : config[key];
  checkBounds(fn, arch, copy);
  try {
    if (arch === 'unet') {
      const checked = copy as unknown as unet.UnetConfig;
      unet.validateUnetConfig(checked, fn);
      if (checked.outChannels !== checked.inChannels) {
        throw new TokenizerError(
          'bad-config',
          `${fn}: a tokenizer's UNet must output as many channels as it reads (outChannels = inChannels = ${checked.inChannels}), got outChannels=${checked.outChannels}`,
        );
      }
      return { arch, config: checked };
    }
    const checked = copy as unknown as vit.VitConfig;
    vit.validateVitConfig(checked, fn);
    return { arch, config: checked };
  } catch (error) {
    rethrow(fn, 'bad-config', error);
  }
}

/**
 * Geometry for an image size. UNets are fully convolutional, so any size divisible by f works;
 * a ViT's positional embedding fixes the size to `imageSize`.
 */
export function geometry(fn: string, vae: VaeDescription, height: number, width: number): Geometry {
  if (!Number.isSafeInteger(height) || !Number.isSafeInteger(width) || height < 1 || width < 1) {
    throw new TokenizerError('bad-image-size', `${fn}: image height and width must be positive integers, got ${height}×${width}`);
  }
  if (vae.arch === 'unet') {
    const factor = unet.downsamplingFactor(vae.config);
    if (height % factor !== 0 || width % factor !== 0) {
      throw new TokenizerError('bad-image-size', `${fn}: image height and width must be multiples of the UNet's downsampling factor ${factor}, got ${height}×${width}`);
    }
    return {
      image: { height, width, channels: vae.config.inChannels },
      latent: { height: height / factor, width: width / factor, channels: vae.config.zChannels },
      factor,
    };
  }
  const { imageSize, patchSize, zChannels } = vae.config;
  if (height !== imageSize || width !== imageSize) {
    throw new TokenizerError('bad-image-size', `${fn}: a ViT tokenizer's images must be ${imageSize}×${imageSize} (its positional embedding fixes the grid), got ${height}×${width}`);
  }
  return {
    image: { height, width, channels: 3 },
    latent: { height: imageSize / patchSize, width: imageSize / patchSize, channels: zChannels },
    factor: patchSize,
  };
}

/** The image size a config was built for (UNet: `resolution` square; ViT: `imageSize` square). */
export function nativeImageSize(vae: VaeDescription): number {
  return vae.arch === 'unet' ? vae.config.resolution : vae.config.imageSize;
}

/** Check a parameter tree against the config's state_dict before anything runs. */
export function checkVaeParams(fn: string, vae: VaeDescription, params: ParamTree): void {
  try {
    checkParams(fn, params, vaeSpecs(vae));
  } catch (error) {
    rethrow(fn, 'bad-params', error);
  }
}

/**
 * Posterior moments in the VAE's native latent layout: UNet [B, h, w, C], ViT [B, L, C]; log σ²
 * is clamped to [−30, 20] by the VAE package. The caller disposes both.
 */
export function vaeEncode(fn: string, vae: VaeDescription, params: ParamTree, images: tf.Tensor4D): { mu: tf.Tensor; logVar: tf.Tensor } {
  try {
    return vae.arch === 'unet' ? unet.encode(vae.config, params, images) : vit.encode(vae.config, params, images);
  } catch (error) {
    rethrow(fn, 'bad-input', error);
  }
}

/** Decode a native-layout latent (UNet [B, h, w, C], ViT [B, L, C]) to images [B, H, W, C_img]. */
export function vaeDecode(fn: string, vae: VaeDescription, params: ParamTree, latent: tf.Tensor): tf.Tensor4D {
  try {
    return vae.arch === 'unet'
      ? unet.decode(vae.config, params, latent as tf.Tensor4D)
      : vit.decode(vae.config, params, latent as tf.Tensor3D);
  } catch (error) {
    rethrow(fn, 'bad-input', error);
  }
}

/** Safetensors bytes with the reference's key names (the VAE package's exportWeights). */
export async function vaeExport(fn: string, vae: VaeDescription, params: ParamTree): Promise<Uint8Array> {
  try {
    return vae.arch === 'unet' ? await unet.exportWeights(vae.config, params) : await vit.exportWeights(vae.config, params);
  } catch (error) {
    rethrow(fn, 'bad-params', error);
  }
}

/** Build the parameter tree from weights keyed as the reference's state_dict; the caller owns it. */
export function vaeImport(fn: string, vae: VaeDescription, weights: ReadonlyMap<string, WeightEntry>): Record<string, tf.Tensor> {
  try {
    return vae.arch === 'unet' ? unet.importWeights(vae.config, weights) : vit.importWeights(vae.config, weights);
  } catch (error) {
    rethrow(fn, 'bad-weights', error);
  }
}

/** The config's state_dict specs (names, PyTorch shapes). */
export function vaeSpecs(vae: VaeDescription): readonly ParamSpec[] {
  return vae.arch === 'unet' ? unet.unetSpecs(vae.config) : vit.vitSpecs(vae.config);
}
