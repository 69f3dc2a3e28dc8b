import type * as tf from '@tensorflow/tfjs-core';
import type { StatsHandle } from './stats-handle.js';

/** The quantiser families that implement `Quantizer`. */
export type QuantizerKind = 'gq' | 'vq' | 'fsq' | 'lfq' | 'bsq' | 'tokenBridge';

/** Options of `Quantizer.quantize`. */
export interface QuantizeOptions {
  /**
   * Training mode: straight-through output and auxiliary losses (default false). Only a
   * `TrainableQuantizer` accepts `true`; GQ refuses it.
   */
  readonly training?: boolean;
  /**
   * log σ², the shape of z, float32 (default: absent, meaning σ = 1). Gaussian methods (GQ) use it
   * to weigh each dimension by its posterior precision; the other quantisers ignore it.
   */
  readonly logVar?: tf.Tensor;
}

/** What `Quantizer.quantize` returns; the caller disposes the tensors and reads or disposes `stats`. */
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

/**
 * The one interface of every quantiser (GQ and the baselines): a latent `[B, ..., C]` with
 * C = G·m channels becomes G indices per position and back. `S` is the type of the statistics
 * each call reports.
 */
export interface Quantizer<S = Record<string, never>> {
  /** Which quantiser this is. */
  readonly kind: QuantizerKind;
  /** C: latent channels per position. */
  readonly channels: number;
  /** G: index slots per position (last dimension of `indices`). */
  readonly tokensPerPosition: number;
  /** Index values per slot (each index lies in [0, codebookSize)). */
  readonly codebookSize: number;
  /** Bits per latent position (Σ over slots of log2 of the slot's code count). */
  readonly bitsPerPosition: number;
  /**
   * @param z `[B, ..., C]` float32 latent (for GQ: the posterior mean μ).
   * @returns the result, or a promise of it for quantisers that read tensors back (GQ).
   */
  quantize(z: tf.Tensor, options?: QuantizeOptions): QuantizeResult<S> | Promise<QuantizeResult<S>>;
  /**
   * @param indices `[B, ..., G]` int32 → `[B, ..., C]` float32 codes (the inference `zq`);
   * a promise for quantisers that validate indices on the host (GQ). The caller disposes it.
   */
  dequantize(indices: tf.Tensor): tf.Tensor | Promise<tf.Tensor>;
  /** Frees variables and constants the quantiser holds. */
  dispose(): void;
}

/**
 * A quantiser that trains with the model: `quantize` is synchronous, so it can run inside
 * `optimizer.minimize` / `tf.grad`, and with `training: true` its output is differentiable
 * (straight-through). VQ, FSQ, LFQ, BSQ and TokenBridge are trainable; GQ is not.
 */
export interface TrainableQuantizer<S = Record<string, never>> extends Quantizer<S> {
  /** Which trainable quantiser this is. */
  readonly kind: Exclude<QuantizerKind, 'gq'>;
  /** @param z `[B, ..., C]` float32 latent. */
  quantize(z: tf.Tensor, options?: QuantizeOptions): QuantizeResult<S>;
  /** @param indices `[B, ..., G]` int32 → `[B, ..., C]` float32 codes; the caller disposes it. */
  dequantize(indices: tf.Tensor): tf.Tensor;
}
