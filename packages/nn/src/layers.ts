import * as tf from '@tensorflow/tfjs-core';
import { NnError } from './errors.js';
import {
  fusedGelu,
  fusedNorm,
  fusedUpsampleNearest2x,
  geluKernelName,
  hasFusedKernel,
  normKernelName,
  upsampleKernelName,
  type NormActivation,
} from './fused.js';

/*
 * Functional layers over channel-last tensors. Every op used here has a registered gradient in
 * tfjs-core and a forward kernel on cpu and wasm (no einsum, no tile beyond rank 4, no masks).
 * Each function runs in its own tf.tidy, so it returns one new tensor and leaves no intermediates.
 */

/** Zero padding as PyTorch counts it: one number for all sides, or [[top, bottom], [left, right]]. */
export type Conv2dPadding = number | readonly [readonly [number, number], readonly [number, number]];

/** Options of `conv2d`. */
export interface Conv2dOptions {
  /** Step between windows along height and width (default 1). */
  readonly stride?: number;
  /** Zero padding added before the convolution (default 0). */
  readonly padding?: Conv2dPadding;
}

/**
 * 2-D cross-correlation with PyTorch's zero-padding semantics.
 * @param x [B, H, W, Cin] float32
 * @param weight [kh, kw, Cin, Cout] (HWIO)
 * @param bias [Cout] or undefined
 * @returns [B, Ho, Wo, Cout] with Ho = ⌊(H + top + bottom − kh)/stride⌋ + 1
 */
export function conv2d(x: tf.Tensor4D, weight: tf.Tensor4D, bias: tf.Tensor1D | undefined, options: Conv2dOptions = {}): tf.Tensor4D {
  const stride = options.stride ?? 1;
  const padding = options.padding ?? 0;
  const [kh, kw, cin] = weight.shape;
  if (x.rank !== 4 || x.shape[3] !== cin) {
    throw new NnError('bad-shape', `conv2d: x must be [B,H,W,${cin}], got [${x.shape.join(',')}]`);
  }
  const [[top, bottom], [left, right]] = typeof padding === 'number' ? [[padding, padding], [padding, padding]] : padding;
  return tf.tidy(() => {
    // tfjs 'same' at stride 1 pads (k−1)/2 on each side for odd k, which is PyTorch's padding=(k−1)/2;
    // any other padding is passed explicitly. Either way the kernel pads, with no padded copy of x
    // (and no slice of its gradient back).
    const symmetric = top === bottom && left === right && top === left;
    const pad: 'valid' | 'same' | tf.backend_util.ExplicitPadding =
      stride === 1 && symmetric && kh === kw && kh === 2 * top + 1 && top > 0
        ? 'same'
        : top + bottom + left + right > 0
          ? [
              [0, 0],
              [top, bottom],
              [left, right],
              [0, 0],
            ]
          : 'valid';
    if (bias === undefined) return tf.conv2d(x, weight, stride, pad);
    return tf.fused.conv2d({ x, filter: weight, strides: stride, pad, bias });
  });
}

/**
 * Affine map over the last axis.
 * @param x [..., in]
 * @param weight [in, out]
 * @param bias [out] or undefined
 * @returns [..., out]
 */
export function linear(x: tf.Tensor, weight: tf.Tensor2D, bias: tf.Tensor1D | undefined): tf.Tensor {
  const [inFeatures, outFeatures] = weight.shape;
  if (x.shape[x.rank - 1] !== inFeatures) {
    throw new NnError('bad-shape', `linear: x must have last dimension ${inFeatures}, got [${x.shape.join(',')}]`);
  }
  return tf.tidy(() => {
    const flat = tf.reshape(x, [x.size / inFeatures, inFeatures]) as tf.Tensor2D;
    const y = bias === undefined ? tf.matMul(flat, weight) : tf.fused.matMul({ a: flat, b: weight, bias });
    return tf.reshape(y, [...x.shape.slice(0, -1), outFeatures]);
  });
}

/**
 * (x − mean)/√(var + eps) over `axes` (biased variance, two-pass so there is no cancellation), with a
 * hand-written gradient: dx = r·(g − mean(g) − x̂·mean(g·x̂)) where x̂ is the output, r = 1/√(var + eps)
 * and g the incoming gradient. Autodiff of the composite keeps ~6 full-size intermediates per call
 * alive for the backward pass; this keeps only x̂ (which the following affine map holds anyway) and
 * r, which halves a UNet's training memory and kernel count.
 */
function normalize(x: tf.Tensor, axes: number[], eps: number): tf.Tensor {
  const run = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [input, save] = args as [tf.Tensor, tf.GradSaveFunc];
    const mean = tf.mean(input, axes, true);
    const centred = tf.sub(input, mean);
    const rstd = tf.rsqrt(tf.add(tf.mean(tf.square(centred), axes, true), eps));
    const value = tf.mul(centred, rstd);
    save([value, rstd]);
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [normed, r] = saved as [tf.Tensor, tf.Tensor];
        const meanDy = tf.mean(dy, axes, true);
        const meanDyX = tf.mean(tf.mul(dy, normed), axes, true);
        return tf.mul(tf.sub(tf.sub(dy, meanDy), tf.mul(normed, meanDyX)), r);
      },
    };
  });
  return run(x);
}

/** Options of `groupNorm`. */
export interface GroupNormOptions {
  /** Applied after the affine map: 'silu' gives silu(groupNorm(x)) in one pass where the backend has the fused kernel (default 'linear', none). */
  readonly activation?: NormActivation;
}

/**
 * GroupNorm as torch.nn.GroupNorm: per sample, statistics over each group's C/G channels and all
 * positions; then a per-channel affine map (and SiLU with `activation: 'silu'`). Runs as one fused
 * kernel (forward and gradient) where the backend registered `GqNorm`, else as tfjs-core ops.
 * @param x [B, H, W, C]; gamma, beta [C]
 */
export function groupNorm(
  x: tf.Tensor4D,
  gamma: tf.Tensor1D,
  beta: tf.Tensor1D,
  groups: number,
  eps: number,
  options: GroupNormOptions = {},
): tf.Tensor4D {
  const [b, h, w, c] = x.shape;
  if (!Number.isInteger(groups) || groups < 1 || c % groups !== 0) {
    throw new NnError('bad-shape', `groupNorm: channels must be divisible by groups=${groups}, got [${x.shape.join(',')}]`);
  }
  const activation = options.activation ?? 'linear';
  return tf.tidy(() => {
    if (hasFusedKernel(normKernelName)) {
      const flat = tf.reshape(x, [b, h * w, c]) as tf.Tensor3D;
      return tf.reshape(fusedNorm(flat, gamma, beta, { groups, eps, activation }), [b, h, w, c]) as tf.Tensor4D;
    }
    const grouped = tf.reshape(x, [b, h * w, groups, c / groups]);
    const normed = tf.reshape(normalize(grouped, [1, 3], eps), [b, h, w, c]);
    const affine = tf.add(tf.mul(normed, gamma), beta) as tf.Tensor4D;
    return activation === 'silu' ? (silu(affine) as tf.Tensor4D) : affine;
  });
}

/**
 * LayerNorm over the last axis, as torch.nn.LayerNorm(C); one fused kernel where the backend has it.
 * @param x [..., C]; gamma, beta [C]
 */
export function layerNorm(x: tf.Tensor, gamma: tf.Tensor1D, beta: tf.Tensor1D, eps: number): tf.Tensor {
  return tf.tidy(() => {
    if (hasFusedKernel(normKernelName)) {
      const c = x.shape[x.rank - 1]!;
      const rows = tf.reshape(x, [x.size / c, 1, c]) as tf.Tensor3D;
      return tf.reshape(fusedNorm(rows, gamma, beta, { groups: 1, eps, activation: 'linear' }), x.shape);
    }
    return tf.add(tf.mul(normalize(x, [x.rank - 1], eps), gamma), beta);
  });
}

/**
 * SiLU (swish): x·σ(x), with its derivative σ(x)·(1 + x·(1 − σ(x))) written out so the backward pass
 * keeps only x instead of x, σ(x) and the product.
 */
export function silu(x: tf.Tensor): tf.Tensor {
  const run = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [input, save] = args as [tf.Tensor, tf.GradSaveFunc];
    save([input]);
    return {
      value: tf.tidy(() => tf.mul(input, tf.sigmoid(input))),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.tidy(() => {
          const sigma = tf.sigmoid(saved[0]!);
          return tf.mul(dy, tf.mul(sigma, tf.add(1, tf.mul(saved[0]!, tf.sub(1, sigma)))));
        }),
    };
  });
  return run(x);
}

/**
 * GELU, exact erf form (PyTorch's nn.GELU default): x·(1 + erf(x/√2))/2. One kernel each way where
 * the backend has the fused kernel; else tfjs-core ops.
 */
export function gelu(x: tf.Tensor): tf.Tensor {
  if (hasFusedKernel(geluKernelName)) return fusedGelu(x);
  return tf.tidy(() => tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1)));
}

/**
 * Scaled dot-product attention with `heads` heads, softmax over keys, no mask.
 * @param q, k, v [B, L, D] with D divisible by heads; head h uses features [h·D/heads, (h+1)·D/heads)
 * @returns [B, L, D] heads concatenated
 */
export function attention(q: tf.Tensor3D, k: tf.Tensor3D, v: tf.Tensor3D, heads: number): tf.Tensor3D {
  const [b, lq, d] = q.shape;
  const lk = k.shape[1];
  if (!Number.isInteger(heads) || heads < 1 || d % heads !== 0) {
    throw new NnError('bad-shape', `attention: feature size must be divisible by heads=${heads}, got [${q.shape.join(',')}]`);
  }
  const dh = d / heads;
  return tf.tidy(() => {
    // Scale q before the product, as PyTorch's MultiheadAttention does, so the rounding order follows the reference.
    const qh = tf.transpose(tf.reshape(tf.mul(q, 1 / Math.sqrt(dh)), [b, lq, heads, dh]), [0, 2, 1, 3]) as tf.Tensor4D;
    // kᵀ materialised: wasm's matMul with transposeB takes a much slower path.
    const kt = tf.transpose(tf.reshape(k, [b, lk, heads, dh]), [0, 2, 3, 1]) as tf.Tensor4D;
    const vh = tf.transpose(tf.reshape(v, [b, lk, heads, dh]), [0, 2, 1, 3]) as tf.Tensor4D;
    const weights = tf.softmax(tf.matMul(qh, kt));
    const out = tf.matMul(weights, vh);
    return tf.reshape(tf.transpose(out, [0, 2, 1, 3]), [b, lq, d]) as tf.Tensor3D;
  });
}

/**
 * Nearest-neighbour ×2 upsampling, out[y, x] = in[⌊y/2⌋, ⌊x/2⌋]. Exact. One kernel each way where
 * the backend has the fused kernel; else a broadcast against ones of shape [1, 1, 2, 1, 2, 1],
 * whose gradient is a plain Sum over the broadcast axes (a concat-based version differentiates
 * through SplitV, which dominated a training step on wasm).
 */
export function upsampleNearest2x(x: tf.Tensor4D): tf.Tensor4D {
  const [b, h, w, c] = x.shape;
  return tf.tidy(() => {
    if (hasFusedKernel(upsampleKernelName)) return fusedUpsampleNearest2x(x);
    const expanded = tf.reshape(x, [b, h, 1, w, 1, c]);
    const repeated = tf.mul(expanded, tf.ones([1, 1, 2, 1, 2, 1]));
    return tf.reshape(repeated, [b, 2 * h, 2 * w, c]) as tf.Tensor4D;
  });
}
