import * as tf from '@tensorflow/tfjs-core';

/**
 * Packs sign bits MSB-first: `positive [..., S·D]` (bool) → `[..., S]` int32, slot s holding
 * Σ_d bit(s·D + d)·2^(D−1−d). Integer arithmetic in int32, exact for D ≤ 31.
 */
export function packBits(positive: tf.Tensor, slots: number, bitsPerSlot: number): tf.Tensor {
  return tf.tidy(() => {
    const lead = positive.shape.slice(0, -1);
    // Rank 3 whatever the input's: WebGPU's broadcasting kernels handle at most rank 4.
    const bits = tf.reshape(tf.cast(positive, 'int32'), [-1, slots, bitsPerSlot]);
    const weights = tf.tensor1d(
      Array.from({ length: bitsPerSlot }, (_, d) => 2 ** (bitsPerSlot - 1 - d)),
      'int32',
    );
    return tf.reshape(tf.sum(tf.mul(bits, weights), -1), [...lead, slots]);
  });
}

/** Inverse of `packBits`: `[..., S]` int32 → `[..., S·D]` int32 bits (0/1). */
export function unpackBits(indices: tf.Tensor, slots: number, bitsPerSlot: number): tf.Tensor {
  return tf.tidy(() => {
    const lead = indices.shape.slice(0, -1);
    const divisors = tf.tensor1d(
      Array.from({ length: bitsPerSlot }, (_, d) => 2 ** (bitsPerSlot - 1 - d)),
      'int32',
    );
    const expanded = tf.reshape(indices, [-1, slots, 1]);
    const bits = tf.mod(tf.floorDiv(expanded, divisors), tf.scalar(2, 'int32'));
    return tf.reshape(bits, [...lead, slots * bitsPerSlot]);
  });
}

/** Binary entropy in nats of p = σ(a), stable for any a: σ(a)·softplus(−a) + σ(−a)·softplus(a). */
export function binaryEntropyOfLogit(a: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const negative = tf.neg(a);
    return tf.add(tf.mul(tf.sigmoid(a), tf.softplus(negative)), tf.mul(tf.sigmoid(negative), tf.softplus(a)));
  });
}
