import * as tf from '@tensorflow/tfjs-core';
import { constantOf, straightThrough, TensorStats, type QuantizeOptions, type QuantizeResult, type TrainableQuantizer } from '@gq/core';
import { QuantizerError } from './errors.js';
import { normalMass, normalPdf, normalQuantile } from './normal.js';
import { checkIndices, checkLatent, finiteNumber, positiveInteger, isTraining } from './validate.js';

/** Options of `tokenBridge`. */
export interface TokenBridgeOptions {
  /** B: bits per channel (L = 2^B levels). */
  readonly bits: number;
  /** C: channels; every channel is its own index slot. */
  readonly channels: number;
  /** r: boundaries and inputs are clipped to [−r, r] (default 3, TokenBridge's). */
  readonly range?: number;
  /** s: input scale, x' = clamp(s·x, −r, r); dequantised values are v/s (default 1). */
  readonly scale?: number;
  /** `'nearest'` reconstruction value (default, TokenBridge's) or `'bin'` membership b_i ≤ x' < b_{i+1}. */
  readonly assign?: 'nearest' | 'bin';
}

/** TokenBridge reports no statistics. */
export type TokenBridgeStats = Record<string, never>;

/** A TokenBridge quantiser (`tokenBridge`). */
export interface TokenBridge extends TrainableQuantizer<TokenBridgeStats> {
  readonly bits: number;
  readonly scale: number;
  readonly range: number;
  /** b_0..b_L in float64: Φ⁻¹(i/L) clipped to [−r, r]. */
  readonly boundaries: readonly number[];
  /** v_0..v_{L−1} in float64: the N(0,1) mean restricted to [b_i, b_{i+1}]. */
  readonly values: readonly number[];
}

const MAX_BITS = 12;

/** Boundaries and truncated-normal means for 2^bits equal-probability bins, clipped to [−r, r]. */
export function gaussianBins(bits: number, range: number): { boundaries: number[]; values: number[] } {
  const levels = 2 ** bits;
  const boundaries = Array.from({ length: levels + 1 }, (_, i) => Math.min(range, Math.max(-range, normalQuantile(i / levels))));
  const values = boundaries.slice(0, -1).map((a, i) => {
    const b = boundaries[i + 1]!;
    return (normalPdf(a) - normalPdf(b)) / normalMass(a, b);
  });
  return { boundaries, values };
}

/**
 * TokenBridge post-training quantisation (§6.5): per channel, 2^B equal-probability Gaussian bins,
 * each decoded at its truncated-normal conditional mean. Indices `[..., C]` in [0, 2^B).
 */
export function tokenBridge(options: TokenBridgeOptions): TokenBridge {
  const fn = 'tokenBridge';
  const bits = positiveInteger(fn, 'bits', options?.bits);
  if (bits > MAX_BITS) throw new QuantizerError('bad-option', `${fn}: bits must be ≤ ${MAX_BITS}, got ${bits}`);
  const channels = positiveInteger(fn, 'channels', options.channels);
  const range = finiteNumber(fn, 'range', options.range ?? 3, true);
  const scale = finiteNumber(fn, 'scale', options.scale ?? 1, true);
  const assign = options.assign ?? 'nearest';
  if (assign !== 'nearest' && assign !== 'bin') {
    throw new QuantizerError('bad-option', `${fn}: assign must be 'nearest' or 'bin', got ${JSON.stringify(assign)}`);
  }
  const { boundaries, values } = gaussianBins(bits, range);
  const levels = values.length;
  const decoded = Float32Array.from(values, (v) => v / scale);

  const assignIndices = (x: tf.Tensor): tf.Tensor =>
    tf.tidy(() => {
      // One column of scalars, [N, 1], whatever x's rank: WebGPU's broadcasting kernels handle at most rank 4.
      const clipped = tf.reshape(tf.clipByValue(tf.mul(x, tf.scalar(scale)), -range, range), [-1, 1]);
      if (assign === 'bin') {
        const inner = tf.tensor1d(boundaries.slice(1, -1));
        return tf.reshape(tf.sum(tf.cast(tf.greaterEqual(clipped, inner), 'int32'), -1), x.shape);
      }
      // argMin returns the first minimum on the CPU backend: the lowest index wins ties.
      const distance = tf.abs(tf.sub(clipped, tf.tensor1d(values)));
      return tf.reshape(tf.cast(tf.argMin(distance, -1), 'int32'), x.shape);
    });
  const lookup = (indices: tf.Tensor): tf.Tensor =>
    tf.tidy(() => tf.reshape(tf.gather(tf.tensor1d(decoded), tf.reshape(indices, [-1])), indices.shape));

  return {
    kind: 'tokenBridge',
    channels,
    bits,
    scale,
    range,
    boundaries,
    values,
    tokensPerPosition: channels,
    codebookSize: levels,
    bitsPerPosition: channels * bits,

    quantize(z: tf.Tensor, options?: QuantizeOptions): QuantizeResult<TokenBridgeStats> {
      checkLatent('tokenBridge.quantize', z, channels);
      const training = isTraining(options);
      const { zq, indices } = tf.tidy(() => {
        const indices = constantOf(z, assignIndices);
        const zq = training ? straightThrough(z, (v) => lookup(assignIndices(v))) : constantOf(z, () => lookup(indices));
        return { zq, indices };
      });
      return { zq, indices, auxLoss: tf.scalar(0), stats: new TensorStats<TokenBridgeStats>({}, () => ({})) };
    },

    dequantize(indices: tf.Tensor): tf.Tensor {
      checkIndices('tokenBridge.dequantize', indices, channels);
      return lookup(indices);
    },

    dispose(): void {},
  };
}
