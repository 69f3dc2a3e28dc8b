import type * as tf from '@tensorflow/tfjs-core';
import type { StatsHandle } from './stats-handle.js';

export interface QuantizeOptions {
  /** Training mode: straight-through output and auxiliary losses (default false). */
  readonly training?: boolean;
}

export interface QuantizeResult<S> {
  /** `[..., C]` float32 quantised latent; in training its gradient passes straight through to z. */
  readonly zq: tf.Tensor;
  /** `[..., G]` int32 indices, G = `tokensPerPosition`. */
  readonly indices: tf.Tensor;
  /** Scalar float32 auxiliary loss (0 at inference), already weighted; add it to the training loss. */
  readonly auxLoss: tf.Scalar;
  /** Statistics of this call; read or dispose them (they survive tf.tidy and optimizer.minimize). */
  readonly stats: StatsHandle<S>;
}

/** The interface every baseline quantiser implements. */
export interface Quantizer<S = Record<string, never>> {
  readonly kind: 'vq' | 'fsq' | 'lfq' | 'bsq' | 'tokenBridge';
  /** C: latent channels per position. */
  readonly channels: number;
  /** G: index slots per position (last dimension of `indices`). */
  readonly tokensPerPosition: number;
  /** Index values per slot (each index lies in [0, codebookSize)). */
  readonly codebookSize: number;
  /** Bits per latent position (Σ over slots of log2 of the slot's code count). */
  readonly bitsPerPosition: number;
  /** @param z `[B, ..., C]` float32. */
  quantize(z: tf.Tensor, options?: QuantizeOptions): QuantizeResult<S>;
  /** @param indices `[B, ..., G]` int32 → `[B, ..., C]` float32 codes (the inference `zq`). */
  dequantize(indices: tf.Tensor): tf.Tensor;
  /** Frees variables and constants the quantiser holds. */
  dispose(): void;
}
