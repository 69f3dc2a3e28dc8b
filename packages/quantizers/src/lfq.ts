import * as tf from '@tensorflow/tfjs-core';
import { constantOf, straightThrough, TensorStats, type QuantizeOptions, type QuantizeResult, type TrainableQuantizer } from '@gq/core';
import { binaryEntropyOfLogit, packBits, unpackBits } from './bits.js';
import { QuantizerError } from './errors.js';
import { checkIndices, checkLatent, finiteNumber, isTraining, positiveInteger } from './validate.js';

/** Options of `lfq`. */
export interface LfqOptions {
  /** C: channels = bits per position. */
  readonly channels: number;
  /**
   * n: contiguous sub-codebooks of D = C/n bits (default: the smallest n dividing C with D ≤ 12,
   * so n = 2, D = 8 for the reference's C = 16). H_batch enumerates 2^D codes.
   */
  readonly subCodebooks?: number;
  /** τ (default 0.01). */
  readonly temperature?: number;
  /** Weight of H_sample − H_batch (default 0.1). */
  readonly entropyWeight?: number;
  /** Weight of mean((z − sg(q))²) (default 0.025). */
  readonly commitmentWeight?: number;
}

/** Training-only terms (nats); all undefined at inference. */
export interface LfqStats {
  readonly entropySample?: number;
  readonly entropyBatch?: number;
  readonly commitment?: number;
}

/** An LFQ quantiser (`lfq`). */
export interface Lfq extends TrainableQuantizer<LfqStats> {
  readonly subCodebooks: number;
  readonly bitsPerSubCodebook: number;
}

const MAX_ENUMERATED_BITS = 16;

/** ±1 codes of D bits, MSB first, as a `[D, 2^D]` matrix (column c = code c). */
function codeMatrix(bits: number): Float32Array {
  const count = 2 ** bits;
  const out = new Float32Array(bits * count);
  for (let c = 0; c < count; c++) {
    for (let d = 0; d < bits; d++) out[d * count + c] = (c >> (bits - 1 - d)) & 1 ? 1 : -1;
  }
  return out;
}

/**
 * Lookup-free quantisation (§6.3): q = +1 if z > 0 else −1 per channel, indices packed MSB-first
 * per sub-codebook, entropy loss H_sample − H_batch at temperature τ plus a commitment term.
 */
export function lfq(options: LfqOptions): Lfq {
  const fn = 'lfq';
  const channels = positiveInteger(fn, 'channels', options?.channels);
  let subCodebooks = options.subCodebooks;
  if (subCodebooks === undefined) {
    subCodebooks = 1;
    while (channels % subCodebooks !== 0 || channels / subCodebooks > 12) subCodebooks++;
  }
  positiveInteger(fn, 'subCodebooks', subCodebooks);
  if (channels % subCodebooks !== 0) {
    throw new QuantizerError('bad-option', `${fn}: subCodebooks must divide channels=${channels}, got ${subCodebooks}`);
  }
  const bits = channels / subCodebooks;
  if (bits > MAX_ENUMERATED_BITS) {
    throw new QuantizerError('bad-option', `${fn}: bits per sub-codebook (channels/subCodebooks) must be ≤ ${MAX_ENUMERATED_BITS}, got ${bits}`);
  }
  const temperature = finiteNumber(fn, 'temperature', options.temperature ?? 0.01, true);
  const entropyWeight = finiteNumber(fn, 'entropyWeight', options.entropyWeight ?? 0.1, false);
  const commitmentWeight = finiteNumber(fn, 'commitmentWeight', options.commitmentWeight ?? 0.025, false);
  const codes = codeMatrix(bits);
  const sign = (v: tf.Tensor): tf.Tensor => tf.where(tf.greater(v, 0), tf.onesLike(v), tf.neg(tf.onesLike(v)));

  return {
    kind: 'lfq',
    channels,
    subCodebooks,
    bitsPerSubCodebook: bits,
    tokensPerPosition: subCodebooks,
    codebookSize: 2 ** bits,
    bitsPerPosition: channels,

    quantize(z: tf.Tensor, options?: QuantizeOptions): QuantizeResult<LfqStats> {
      checkLatent('lfq.quantize', z, channels);
      const training = isTraining(options);
      const out = tf.tidy(() => {
        const indices = constantOf(z, (v) => packBits(tf.greater(v, 0), subCodebooks, bits));
        if (!training) return { zq: constantOf(z, sign), indices, auxLoss: tf.scalar(0), statsTensors: {} as Record<string, tf.Tensor> };
        const zq = straightThrough(z, sign);
        const x = tf.reshape(z, [-1, bits]);
        // p(c) = softmax_c(2⟨x, c⟩/τ) factorises into Π_d σ(4 x_d c_d / τ), so the per-sub-token
        // entropy is a sum of D binary entropies.
        const scaled = tf.mul(x, tf.scalar(4 / temperature));
        const entropySample = tf.div(tf.sum(binaryEntropyOfLogit(scaled)), tf.scalar(x.shape[0]!));
        const logits = tf.matMul(tf.mul(x, tf.scalar(2 / temperature)), tf.tensor2d(codes, [bits, 2 ** bits]));
        const meanProbability = tf.mean(tf.softmax(logits), 0);
        const entropyBatch = tf.neg(tf.sum(tf.mul(meanProbability, tf.log(tf.add(meanProbability, tf.scalar(1e-5))))));
        const commitment = tf.mean(tf.square(tf.sub(z, constantOf(z, sign))));
        const auxLoss = tf.add(
          tf.mul(tf.sub(entropySample, entropyBatch), tf.scalar(entropyWeight)),
          tf.mul(commitment, tf.scalar(commitmentWeight)),
        ) as tf.Scalar;
        return { zq, indices, auxLoss, statsTensors: { entropySample, entropyBatch, commitment } as Record<string, tf.Tensor> };
      });
      const stats = new TensorStats<LfqStats>(out.statsTensors, (v) =>
        v['commitment'] ? { entropySample: v['entropySample']![0]!, entropyBatch: v['entropyBatch']![0]!, commitment: v['commitment'][0]! } : {},
      );
      return { zq: out.zq, indices: out.indices, auxLoss: out.auxLoss, stats };
    },

    dequantize(indices: tf.Tensor): tf.Tensor {
      checkIndices('lfq.dequantize', indices, subCodebooks);
      return tf.tidy(() => tf.sub(tf.mul(tf.cast(unpackBits(indices, subCodebooks, bits), 'float32'), tf.scalar(2)), tf.scalar(1)));
    },

    dispose(): void {},
  };
}
