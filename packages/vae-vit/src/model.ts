import * as tf from '@tensorflow/tfjs-core';
import {
  attention,
  checkParams,
  countParameters,
  gelu,
  initParams,
  layerNorm,
  linear,
  splitMoments,
  type ParamTree,
  type SplitMomentsOptions,
} from '@gq/nn';
import { tokenCount, validateVitConfig, type VitConfig } from './config.js';
import { VaeVitError } from './errors.js';
import { decoderSpecs, encoderSpecs, vitSpecs } from './specs.js';

/** LayerNorm epsilon of torch.nn.LayerNorm's default, as the reference uses. */
const layerNormEps = 1e-5;

/** Options of `encode`: `clampLogVar` (default true) clamps log σ² to @gq/core's `LOG_VAR_RANGE`, [−30, 20]. */
export type EncodeOptions = SplitMomentsOptions;

export interface Moments {
  /** [B, L, C] posterior mean per token. */
  readonly mu: tf.Tensor3D;
  /** [B, L, C] log-variance (clamped unless `clampLogVar: false`). */
  readonly logVar: tf.Tensor3D;
}

type Get = (name: string) => tf.Tensor;

function fail(code: string, message: string): never {
  throw new VaeVitError(code, message);
}

function dense(get: Get, name: string, x: tf.Tensor, bias = true): tf.Tensor {
  return linear(x, get(`${name}.weight`) as tf.Tensor2D, bias ? (get(`${name}.bias`) as tf.Tensor1D) : undefined);
}

function norm(get: Get, name: string, x: tf.Tensor): tf.Tensor {
  return layerNorm(x, get(`${name}.weight`) as tf.Tensor1D, get(`${name}.bias`) as tf.Tensor1D, layerNormEps);
}

/** Pre-LN block: x + MHA(ln_1(x)), then x + c_proj(GELU(c_fc(ln_2(x)))). */
function residualBlock(get: Get, name: string, x: tf.Tensor3D, heads: number): tf.Tensor3D {
  const width = x.shape[2];
  // in_proj packs [W_q; W_k; W_v] along PyTorch's output axis, i.e. our columns.
  const qkv = linear(norm(get, `${name}.ln_1`, x), get(`${name}.attn.in_proj_weight`) as tf.Tensor2D, get(`${name}.attn.in_proj_bias`) as tf.Tensor1D);
  const [q, k, v] = tf.split(qkv, [width, width, width], 2) as [tf.Tensor3D, tf.Tensor3D, tf.Tensor3D];
  let h = tf.add(x, dense(get, `${name}.attn.out_proj`, attention(q, k, v, heads))) as tf.Tensor3D;
  const mlp = dense(get, `${name}.mlp.c_proj`, gelu(dense(get, `${name}.mlp.c_fc`, norm(get, `${name}.ln_2`, h))));
  h = tf.add(h, mlp) as tf.Tensor3D;
  return h;
}

/**
 * NHWC image → tokens: token t = (y/p)·(W/p) + x/p, feature f = c·p² + (y mod p)·p + (x mod p),
 * the reference's `b c (hh sh) (ww sw) -> b (hh ww) (c sh sw)` read from channel-last data.
 */
function patchify(x: tf.Tensor4D, p: number): tf.Tensor3D {
  const [b, h, w, c] = x.shape;
  const gh = h / p;
  const gw = w / p;
  // Batch and patch-row axes are merged so the transpose stays rank 5 (backends' fast paths).
  const split = tf.reshape(x, [b * gh, p, gw, p, c]);
  return tf.reshape(tf.transpose(split, [0, 2, 4, 1, 3]), [b, gh * gw, c * p * p]) as tf.Tensor3D;
}

/** Inverse of patchify: [B, L, 3p²] → [B, H, W, 3]. */
function unpatchify(tokens: tf.Tensor3D, p: number, side: number): tf.Tensor4D {
  const b = tokens.shape[0];
  const g = side / p;
  const split = tf.reshape(tokens, [b * g, g, 3, p, p]);
  return tf.reshape(tf.transpose(split, [0, 3, 1, 4, 2]), [b, side, side, 3]) as tf.Tensor4D;
}

/**
 * Fresh parameters with the reference's init (positional embeddings N(0, 0.02²), block and
 * patch/output weights trunc_normal(0.02), block biases 0, LayerNorms 1/0, the remaining Linear
 * layers PyTorch's default U(±1/√fan_in)), drawn from one seeded stream: the same (config, seed)
 * gives bit-identical weights. Returns plain tensors (wrap with `toVariables` from @gq/nn for an optimizer).
 */
export function init(config: VitConfig, seed: number): Record<string, tf.Tensor> {
  validateVitConfig(config, 'init');
  if (!Number.isSafeInteger(seed) || seed < 0 || seed >= 2 ** 32) fail('bad-seed', `init: seed must be an integer in [0, 2^32), got ${seed}`);
  return initParams(vitSpecs(config), seed);
}

/**
 * The encoder's raw output.
 * @param x [B, imageSize, imageSize, 3] float32 in [−1, 1]
 * @returns [B, L, 2C]: features 0..C−1 are μ, C..2C−1 the raw log σ²
 */
export function encodeMoments(config: VitConfig, params: ParamTree, x: tf.Tensor4D): tf.Tensor3D {
  validateVitConfig(config, 'encode');
  const s = config.imageSize;
  if (x.rank !== 4 || x.dtype !== 'float32' || x.shape[3] !== 3) {
    fail('bad-input', `encode: x must be float32 [B,${s},${s},3], got ${x.dtype} [${x.shape.join(',')}]`);
  }
  if (x.shape[1] !== s || x.shape[2] !== s) {
    const why = x.shape[1] % config.patchSize !== 0 || x.shape[2] % config.patchSize !== 0 ? `divisible by patch ${config.patchSize} and ` : '';
    fail('bad-input', `encode: x height and width must be ${why}equal to imageSize=${s} (the positional embedding fixes the token grid), got [${x.shape.join(',')}]`);
  }
  checkParams('encode', params, encoderSpecs(config), VaeVitError);
  const get: Get = (name) => params[name]!;
  return tf.tidy(() => {
    let h = dense(get, 'encoder.conv1', patchify(x, config.patchSize), false) as tf.Tensor3D;
    h = norm(get, 'encoder.ln_pre', tf.add(h, get('encoder.positional_embedding'))) as tf.Tensor3D;
    for (let i = 0; i < config.layers; i++) h = residualBlock(get, `encoder.transformer.resblocks.${i}`, h, config.heads);
    return dense(get, 'encoder.quant_embed', norm(get, 'encoder.ln_post', h)) as tf.Tensor3D;
  });
}

/**
 * Encode images to the per-token Gaussian posterior.
 * @param x [B, imageSize, imageSize, 3] float32
 * @returns μ and log σ², each [B, L, C]; log σ² clamped to [−30, 20] unless `clampLogVar: false`
 */
export function encode(config: VitConfig, params: ParamTree, x: tf.Tensor4D, options: EncodeOptions = {}): Moments {
  const moments = encodeMoments(config, params, x);
  try {
    return splitMoments(moments, config.zChannels, options);
  } finally {
    moments.dispose();
  }
}

/**
 * Decode token latents to images (tanh inside the output MLP as the reference; no clamp on the output).
 * @param z [B, L, zChannels] float32, tokens in row-major patch order
 * @returns [B, imageSize, imageSize, 3]
 */
export function decode(config: VitConfig, params: ParamTree, z: tf.Tensor3D): tf.Tensor4D {
  validateVitConfig(config, 'decode');
  const l = tokenCount(config);
  if (z.rank !== 3 || z.dtype !== 'float32' || z.shape[1] !== l || z.shape[2] !== config.zChannels) {
    fail('bad-input', `decode: z must be float32 [B,${l},${config.zChannels}], got ${z.dtype} [${z.shape.join(',')}]`);
  }
  checkParams('decode', params, decoderSpecs(config), VaeVitError);
  const get: Get = (name) => params[name]!;
  return tf.tidy(() => {
    let h = tf.add(dense(get, 'decoder.post_quant_embed', z), get('decoder.positional_embedding')) as tf.Tensor3D;
    h = norm(get, 'decoder.ln_pre', h) as tf.Tensor3D;
    for (let i = 0; i < config.layers; i++) h = residualBlock(get, `decoder.transformer.resblocks.${i}`, h, config.heads);
    const features = tf.tanh(dense(get, 'decoder.ffn.0', norm(get, 'decoder.ln_post', h)));
    const patches = dense(get, 'decoder.conv_out', features) as tf.Tensor3D;
    return unpatchify(patches, config.patchSize, config.imageSize);
  });
}

export interface ParameterCount {
  readonly encoder: number;
  readonly decoder: number;
  readonly total: number;
}

/** Number of trainable scalars of a config (no tensors are created). */
export function parameterCount(config: VitConfig): ParameterCount {
  validateVitConfig(config, 'parameterCount');
  const encoder = countParameters(encoderSpecs(config));
  const decoder = countParameters(decoderSpecs(config));
  return { encoder, decoder, total: encoder + decoder };
}
