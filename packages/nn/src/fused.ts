import * as tf from '@tensorflow/tfjs-core';

/*
 * Optional fused kernels. A backend may register kernels under these names (@gq/runtime's
 * `registerTrainingKernels` does on wasm); where one is registered the layers run it as a single
 * kernel, and elsewhere they compose tfjs-core ops to the same result. The names and attributes
 * below are the contract between this package and whoever registers them.
 */

/**
 * Normalisation over groups of channels, then a per-channel affine map and optionally SiLU.
 * Inputs: x [outer, inner, C], gamma [C], beta [C]. Attrs: `NormKernelAttrs`.
 * Outputs: y [outer, inner, C]; mean and rstd = 1/√(var + eps), each [outer, groups], float32,
 * where group g holds channels [g·C/groups, (g+1)·C/groups) over all `inner` positions (biased
 * variance). GroupNorm is [B, H·W, C] with G groups; LayerNorm is [N, 1, C] with one group.
 */
export const normKernelName = 'GqNorm';

/**
 * Gradient of `normKernelName`. Inputs: dy [outer, inner, C], x, gamma, beta, the forward's mean
 * and rstd, and with SiLU also y, the forward's output (a kernel may take σ(n) = y/n from it rather
 * than recompute e^−n; it may ignore it). Attrs: `NormKernelAttrs`. Outputs: dx [outer, inner, C],
 * dgamma [C], dbeta [C].
 */
export const normGradKernelName = 'GqNormGrad';

/** Attributes of `normKernelName` and `normGradKernelName`. */
export interface NormKernelAttrs {
  /** Channel groups G (C divisible by G). */
  readonly groups: number;
  /** Added to the variance before the square root. */
  readonly eps: number;
  /** Applied after the affine map: 'silu' (x·σ(x)) or 'linear' (none). */
  readonly activation: NormActivation;
}

/** What follows a normalisation's affine map. */
export type NormActivation = 'linear' | 'silu';

/**
 * Nearest-neighbour ×2 upsampling. Input x [B, H, W, C]; output [B, 2H, 2W, C] with
 * out[y, x] = in[⌊y/2⌋, ⌊x/2⌋]. No attrs.
 */
export const upsampleKernelName = 'GqUpsampleNearest2x';

/** Gradient of `upsampleKernelName`: dy [B, 2H, 2W, C] → dx [B, H, W, C], each the sum of its 2×2 block. */
export const upsampleGradKernelName = 'GqUpsampleNearest2xGrad';

/** GELU in its exact form, x·Φ(x) with Φ the standard normal CDF. Input x (float32, any shape); output the same shape. No attrs. */
export const geluKernelName = 'GqGelu';

/** Gradient of `geluKernelName`: dy and x (same shape) → dx = dy·(Φ(x) + x·φ(x)), φ the standard normal density. */
export const geluGradKernelName = 'GqGeluGrad';

/** Whether the current backend registered the kernel `name`. */
export function hasFusedKernel(name: string): boolean {
  return tf.getKernel(name, tf.getBackend()) !== undefined;
}

function runKernel(name: string, inputs: tf.NamedTensorMap, attrs: NormKernelAttrs | Record<string, never>): tf.Tensor[] {
  const out = tf.engine().runKernel(name, inputs, attrs as unknown as tf.NamedAttrMap);
  return Array.isArray(out) ? (out as tf.Tensor[]) : [out as tf.Tensor];
}

/**
 * The fused normalisation as one differentiable op (its gradient is `normGradKernelName`).
 * @param x [outer, inner, C]
 * @returns y [outer, inner, C]
 */
export function fusedNorm(x: tf.Tensor3D, gamma: tf.Tensor1D, beta: tf.Tensor1D, attrs: NormKernelAttrs): tf.Tensor3D {
  const run = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [input, scale, shift, save] = args as [tf.Tensor, tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    const [value, mean, rstd] = runKernel(normKernelName, { x: input, gamma: scale, beta: shift }, attrs) as [tf.Tensor, tf.Tensor, tf.Tensor];
    // With SiLU the output is saved too (it stays alive anyway as the next layer's input).
    save(attrs.activation === 'silu' ? [input, scale, shift, mean, rstd, value] : [input, scale, shift, mean, rstd]);
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [savedX, savedGamma, savedBeta, savedMean, savedRstd, savedY] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor | undefined];
        const inputs: tf.NamedTensorMap = { dy, x: savedX, gamma: savedGamma, beta: savedBeta, mean: savedMean, rstd: savedRstd };
        if (savedY !== undefined) inputs.y = savedY;
        return runKernel(normGradKernelName, inputs, attrs);
      },
    };
  });
  // tidy frees mean and rstd when nothing records a tape (the gradient keeps its own copies).
  return tf.tidy(() => run(x, gamma, beta) as tf.Tensor3D);
}

/**
 * The fused ×2 nearest upsampling as one differentiable op.
 * @param x [B, H, W, C] → [B, 2H, 2W, C]
 */
export function fusedUpsampleNearest2x(x: tf.Tensor4D): tf.Tensor4D {
  const run = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [input] = args as [tf.Tensor];
    const [value] = runKernel(upsampleKernelName, { x: input }, {}) as [tf.Tensor];
    return { value, gradFunc: (dy: tf.Tensor) => runKernel(upsampleGradKernelName, { dy }, {})[0]! };
  });
  return run(x) as tf.Tensor4D;
}

/** The fused GELU as one differentiable op (its gradient is `geluGradKernelName`). */
export function fusedGelu(x: tf.Tensor): tf.Tensor {
  const run = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [input, save] = args as [tf.Tensor, tf.GradSaveFunc];
    const [value] = runKernel(geluKernelName, { x: input }, {}) as [tf.Tensor];
    save([input]);
    return { value, gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => runKernel(geluGradKernelName, { dy, x: saved[0]! }, {})[0]! };
  });
  return run(x);
}
