import * as tf from '@tensorflow/tfjs-core';
import {
  checkParams,
  conv2d,
  attention,
  countParameters,
  groupNorm,
  initParams,
  splitMoments,
  upsampleNearest2x,
  type Conv2dPadding,
  type NormActivation,
  type ParamTree,
  type SplitMomentsOptions,
} from '@gq/nn';
import { downsamplingFactor, validateUnetConfig, type UnetConfig } from './config.js';
import { VaeUnetError } from './errors.js';
import { decoderPlan, decoderSpecs, encoderPlan, encoderSpecs, unetSpecs } from './specs.js';

/** GroupNorm epsilon of the reference (`Normalize`). */
const groupNormEps = 1e-6;

/** Options of `encode`: `clampLogVar` (default true) clamps log σ² to @gq/core's `LOG_VAR_RANGE`, [−30, 20]. */
export type EncodeOptions = SplitMomentsOptions;

export interface Moments {
  /** [B, h, w, C] posterior mean. */
  readonly mu: tf.Tensor4D;
  /** [B, h, w, C] log-variance (clamped unless `clampLogVar: false`). */
  readonly logVar: tf.Tensor4D;
}

type Get = (name: string) => tf.Tensor;

function getter(params: ParamTree): Get {
  return (name) => params[name]!;
}

function conv(get: Get, name: string, x: tf.Tensor4D, options: { stride?: number; padding?: Conv2dPadding } = {}): tf.Tensor4D {
  return conv2d(x, get(`${name}.weight`) as tf.Tensor4D, get(`${name}.bias`) as tf.Tensor1D, options);
}

function norm(get: Get, name: string, x: tf.Tensor4D, groups: number, activation: NormActivation = 'linear'): tf.Tensor4D {
  return groupNorm(x, get(`${name}.weight`) as tf.Tensor1D, get(`${name}.bias`) as tf.Tensor1D, groups, groupNormEps, { activation });
}

/** silu(GroupNorm(x)): one fused kernel each way where the backend has it. */
function normSilu(get: Get, name: string, x: tf.Tensor4D, groups: number): tf.Tensor4D {
  return norm(get, name, x, groups, 'silu');
}

function resnetBlock(get: Get, name: string, x: tf.Tensor4D, inChannels: number, outChannels: number, groups: number): tf.Tensor4D {
  let h = conv(get, `${name}.conv1`, normSilu(get, `${name}.norm1`, x, groups), { padding: 1 });
  h = conv(get, `${name}.conv2`, normSilu(get, `${name}.norm2`, h, groups), { padding: 1 });
  const shortcut = inChannels === outChannels ? x : conv(get, `${name}.nin_shortcut`, x);
  return tf.add(shortcut, h);
}

/** Single-head self-attention over the h·w positions in row-major order, scale 1/√C, plus the residual. */
function attentionBlock(get: Get, name: string, x: tf.Tensor4D, groups: number): tf.Tensor4D {
  const [b, h, w, c] = x.shape;
  const hn = norm(get, `${name}.norm`, x, groups);
  const tokens = (t: tf.Tensor4D): tf.Tensor3D => tf.reshape(t, [b, h * w, c]);
  const q = tokens(conv(get, `${name}.q`, hn));
  const k = tokens(conv(get, `${name}.k`, hn));
  const v = tokens(conv(get, `${name}.v`, hn));
  const attended = tf.reshape(attention(q, k, v, 1), [b, h, w, c]) as tf.Tensor4D;
  return tf.add(x, conv(get, `${name}.proj_out`, attended));
}

function fail(code: string, message: string): never {
  throw new VaeUnetError(code, message);
}

/**
 * Fresh parameters with PyTorch's default init (conv weights and biases U(±1/√fan_in), norms 1/0),
 * drawn from one seeded stream: the same (config, seed) gives bit-identical weights. Returns
 * plain tensors (not tf.Variables; wrap them with `toVariables` from @gq/nn to use an optimizer).
 */
export function init(config: UnetConfig, seed: number): Record<string, tf.Tensor> {
  validateUnetConfig(config, 'init');
  if (!Number.isSafeInteger(seed) || seed < 0 || seed >= 2 ** 32) fail('bad-seed', `init: seed must be an integer in [0, 2^32), got ${seed}`);
  return initParams(unetSpecs(config), seed);
}

/**
 * The encoder's raw output.
 * @param x [B, H, W, inChannels] float32 in [−1, 1], H and W divisible by the downsampling factor
 * @returns [B, H/f, W/f, 2C]: channels 0..C−1 are μ, C..2C−1 the raw log σ²
 */
export function encodeMoments(config: UnetConfig, params: ParamTree, x: tf.Tensor4D): tf.Tensor4D {
  validateUnetConfig(config, 'encode');
  const f = downsamplingFactor(config);
  if (x.rank !== 4 || x.dtype !== 'float32' || x.shape[3] !== config.inChannels) {
    fail('bad-input', `encode: x must be float32 [B,H,W,${config.inChannels}], got ${x.dtype} [${x.shape.join(',')}]`);
  }
  if (x.shape[1] % f !== 0 || x.shape[2] % f !== 0 || x.shape[1] === 0 || x.shape[2] === 0) {
    fail('bad-input', `encode: x height and width must be positive multiples of the downsampling factor ${f}, got [${x.shape.join(',')}]`);
  }
  checkParams('encode', params, encoderSpecs(config), VaeUnetError);
  const get = getter(params);
  const groups = config.numGroups;
  return tf.tidy(() => {
    let h = conv(get, 'encoder.conv_in', x, { padding: 1 });
    for (const level of encoderPlan(config)) {
      level.blocks.forEach((block, j) => {
        h = resnetBlock(get, `encoder.down.${level.index}.block.${j}`, h, block.inChannels, block.outChannels, groups);
        if (level.attention) h = attentionBlock(get, `encoder.down.${level.index}.attn.${j}`, h, groups);
      });
      // The reference pads right and bottom by one pixel only, then convolves 3×3 at stride 2 unpadded.
      if (level.resample) h = conv(get, `encoder.down.${level.index}.downsample.conv`, h, { stride: 2, padding: [[0, 1], [0, 1]] });
    }
    const top = h.shape[3];
    h = resnetBlock(get, 'encoder.mid.block_1', h, top, top, groups);
    h = resnetBlock(get, 'encoder.mid.block_2', h, top, top, groups);
    h = normSilu(get, 'encoder.norm_out', h, groups);
    return conv(get, 'encoder.conv_out', h, { padding: 1 });
  });
}

/**
 * Encode images to the Gaussian posterior.
 * @param x [B, H, W, inChannels] float32, H and W divisible by the downsampling factor
 * @returns μ and log σ², each [B, H/f, W/f, C]; log σ² clamped to [−30, 20] unless `clampLogVar: false`
 */
export function encode(config: UnetConfig, params: ParamTree, x: tf.Tensor4D, options: EncodeOptions = {}): Moments {
  const moments = encodeMoments(config, params, x);
  try {
    return splitMoments(moments, config.zChannels, options);
  } finally {
    moments.dispose();
  }
}

/**
 * Decode latents to images (no tanh, no clamp, as the reference).
 * @param z [B, h, w, zChannels] float32
 * @returns [B, h·f, w·f, outChannels]
 */
export function decode(config: UnetConfig, params: ParamTree, z: tf.Tensor4D): tf.Tensor4D {
  validateUnetConfig(config, 'decode');
  if (z.rank !== 4 || z.dtype !== 'float32' || z.shape[3] !== config.zChannels || z.shape[1] === 0 || z.shape[2] === 0) {
    fail('bad-input', `decode: z must be float32 [B,h,w,${config.zChannels}] with h, w > 0, got ${z.dtype} [${z.shape.join(',')}]`);
  }
  checkParams('decode', params, decoderSpecs(config), VaeUnetError);
  const get = getter(params);
  const groups = config.numGroups;
  return tf.tidy(() => {
    let h = conv(get, 'decoder.conv_in', z, { padding: 1 });
    const top = h.shape[3];
    h = resnetBlock(get, 'decoder.mid.block_1', h, top, top, groups);
    h = resnetBlock(get, 'decoder.mid.block_2', h, top, top, groups);
    for (const level of decoderPlan(config)) {
      level.blocks.forEach((block, j) => {
        h = resnetBlock(get, `decoder.up.${level.index}.block.${j}`, h, block.inChannels, block.outChannels, groups);
        if (level.attention) h = attentionBlock(get, `decoder.up.${level.index}.attn.${j}`, h, groups);
      });
      if (level.resample) h = conv(get, `decoder.up.${level.index}.upsample.conv`, upsampleNearest2x(h), { padding: 1 });
    }
    h = normSilu(get, 'decoder.norm_out', h, groups);
    return conv(get, 'decoder.conv_out', h, { padding: 1 });
  });
}

export interface ParameterCount {
  readonly encoder: number;
  readonly decoder: number;
  readonly total: number;
}

/** Number of trainable scalars of a config (no tensors are created). */
export function parameterCount(config: UnetConfig): ParameterCount {
  validateUnetConfig(config, 'parameterCount');
  const encoder = countParameters(encoderSpecs(config));
  const decoder = countParameters(decoderSpecs(config));
  return { encoder, decoder, total: encoder + decoder };
}
