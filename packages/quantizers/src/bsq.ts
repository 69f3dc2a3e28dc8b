import * as tf from '@tensorflow/tfjs-core';
import { constantOf, straightThrough, TensorStats, type QuantizeOptions, type QuantizeResult, type TrainableQuantizer } from '@gq/core';
import { binaryEntropyOfLogit, packBits, unpackBits } from './bits.js';
import { checkIndices, checkLatent, finiteNumber, isTraining, positiveInteger } from './validate.js';

/** Options of `bsq`. */
export interface BsqOptions {
  /** C: channels = bits per position. */
  readonly channels: number;
  /** τ (default 0.01). */
  readonly temperature?: number;
  /** Weight of H_sample − H_batch (default 0.1). */
  readonly entropyWeight?: number;
}

/** Training-only terms (nats); undefined at inference. */
export interface BsqStats {
  readonly entropySample?: number;
  readonly entropyBatch?: number;
}

/** A BSQ quantiser (`bsq`). */
export interface Bsq extends TrainableQuantizer<BsqStats> {
  /** Bits per index slot: C when C ≤ 30, else 16 per slot (the last slot holds the remainder). */
  readonly slotBits: readonly number[];
}

const SINGLE_INDEX_BITS = 30;
const SUB_INDEX_BITS = 16;

/**
 * Binary spherical quantisation (§6.4): u = z/‖z‖, q = sign(u) (u > 0 → +1), output q/√C
 * (straight-through on u in training). Indices pack the C bits MSB-first, in 16-bit slots when
 * C > 30. Entropy loss from p_d = σ(−4u_d/(√C·τ)), no commitment term.
 */
export function bsq(options: BsqOptions): Bsq {
  const fn = 'bsq';
  const channels = positiveInteger(fn, 'channels', options?.channels);
  const temperature = finiteNumber(fn, 'temperature', options.temperature ?? 0.01, true);
  const entropyWeight = finiteNumber(fn, 'entropyWeight', options.entropyWeight ?? 0.1, false);
  const bitsPerSlot = channels <= SINGLE_INDEX_BITS ? channels : SUB_INDEX_BITS;
  // Slot widths: full 16-bit slots, then the remaining channels (each slot packed MSB-first).
  const widths: number[] = [];
  for (let left = channels; left > 0; left -= bitsPerSlot) widths.push(Math.min(bitsPerSlot, left));
  const slots = widths.length;
  const scale = 1 / Math.sqrt(channels);
  const sign = (v: tf.Tensor): tf.Tensor => tf.where(tf.greater(v, 0), tf.onesLike(v), tf.neg(tf.onesLike(v)));
  const unit = (z: tf.Tensor): tf.Tensor => tf.div(z, tf.maximum(tf.norm(z, 'euclidean', -1, true), tf.scalar(1e-12)));

  return {
    kind: 'bsq',
    channels,
    slotBits: widths,
    tokensPerPosition: slots,
    codebookSize: 2 ** bitsPerSlot,
    bitsPerPosition: channels,

    quantize(z: tf.Tensor, options?: QuantizeOptions): QuantizeResult<BsqStats> {
      checkLatent('bsq.quantize', z, channels);
      const training = isTraining(options);
      const out = tf.tidy(() => {
        const u = unit(z);
        const indices = constantOf(u, (v) => {
          const parts = slots === 1 ? [tf.greater(v, 0)] : tf.split(tf.greater(v, 0), widths, -1);
          return tf.concat(parts.map((part, i) => packBits(part, 1, widths[i]!)), -1);
        });
        const q = training ? straightThrough(u, sign) : constantOf(u, sign);
        const zq = tf.mul(q, tf.scalar(scale));
        if (!training) return { zq, indices, auxLoss: tf.scalar(0), statsTensors: {} as Record<string, tf.Tensor> };
        // p_d = σ(−4u_d/(√C·τ)); binary entropy is symmetric in the sign of the logit.
        const logits = tf.mul(u, tf.scalar(-4 / (Math.sqrt(channels) * temperature)));
        const entropySample = tf.mean(binaryEntropyOfLogit(logits));
        const p = tf.mean(tf.sigmoid(logits));
        const eps = tf.scalar(1e-5);
        const entropyBatch = tf.neg(
          tf.add(tf.mul(p, tf.log(tf.add(p, eps))), tf.mul(tf.sub(1, p), tf.log(tf.add(tf.sub(1, p), eps)))),
        );
        const auxLoss = tf.mul(tf.sub(entropySample, entropyBatch), tf.scalar(entropyWeight)) as tf.Scalar;
        return { zq, indices, auxLoss, statsTensors: { entropySample, entropyBatch } as Record<string, tf.Tensor> };
      });
      const stats = new TensorStats<BsqStats>(out.statsTensors, (v) =>
        v['entropySample'] ? { entropySample: v['entropySample'][0]!, entropyBatch: v['entropyBatch']![0]! } : {},
      );
      return { zq: out.zq, indices: out.indices, auxLoss: out.auxLoss, stats };
    },

    dequantize(indices: tf.Tensor): tf.Tensor {
      checkIndices('bsq.dequantize', indices, slots);
      return tf.tidy(() => {
        const parts = slots === 1 ? [indices] : tf.split(indices, slots, -1);
        const bitsOut = tf.concat(parts.map((part, i) => unpackBits(part, 1, widths[i]!)), -1);
        return tf.mul(tf.sub(tf.mul(tf.cast(bitsOut, 'float32'), tf.scalar(2)), tf.scalar(1)), tf.scalar(scale));
      });
    },

    dispose(): void {},
  };
}
