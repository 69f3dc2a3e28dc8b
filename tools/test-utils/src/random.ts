import * as tf from '@tensorflow/tfjs-core';
import { seededUniform } from '@gq/core';

/**
 * Deterministic float64 uniforms in [0, 1) at multiples of 2^-32 for test inputs: @gq/core's
 * mulberry32 `seededUniform`, from 32-bit integer operations only, so the inputs are identical on
 * every engine.
 */
export const seededRandom: (seed: number) => () => number = seededUniform;

/** Standard normal draws (Box–Muller) from `seededRandom`. */
export function seededNormal(seed: number): () => number {
  const uniform = seededRandom(seed);
  return () => {
    const u = Math.max(uniform(), 1e-300);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * uniform());
  };
}

/** Float32 tensor of the given shape with seeded standard normal values (caller disposes). */
export function randomNormalTensor(shape: number[], seed: number): tf.Tensor {
  const next = seededNormal(seed);
  const size = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(Float32Array.from({ length: size }, () => next()), shape);
}

/** Seeded uniform images in [−1, 1], float32 [B, H, W, C] (caller disposes). */
export function randomImages(shape: [number, number, number, number], seed: number): tf.Tensor4D {
  const next = seededRandom(seed);
  const size = shape.reduce((a, b) => a * b, 1);
  return tf.tensor4d(Float32Array.from({ length: size }, () => 2 * next() - 1), shape);
}

/**
 * Σ_k Σ r_k·y_k with fixed seeded normal weights r_k (seeds seed, seed + 1, …): a loss that reads
 * every output element with a different weight, so no parameter's gradient cancels by symmetry.
 */
export function linearReadout(shapes: readonly (readonly number[])[], seed: number): { loss(outputs: readonly tf.Tensor[]): tf.Scalar; dispose(): void } {
  const weights = shapes.map((shape, k) => randomNormalTensor([...shape], seed + k));
  return {
    loss: (outputs) => tf.addN(outputs.map((y, k) => tf.sum(tf.mul(y, weights[k]!)))) as tf.Scalar,
    dispose: () => tf.dispose(weights),
  };
}
