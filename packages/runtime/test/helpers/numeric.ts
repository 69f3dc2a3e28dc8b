import * as tf from '@tensorflow/tfjs-core';
import { seededNormal } from '@gq/test-utils';

/** Seeded draws of N(mean, sd²) as float32. */
export function normals(seed: number, size: number, mean = 0, sd = 1): Float32Array {
  const draw = seededNormal(seed);
  return Float32Array.from({ length: size }, () => mean + sd * draw());
}

/**
 * max|a − b| / max(1, max|b|): absolute error for O(1) values, relative error for large sums, so a
 * long float32 reduction is judged against its own magnitude. A length mismatch or NaN is ∞.
 */
export function relativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) return Number.POSITIVE_INFINITY;
  let worst = 0;
  let scale = 1;
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i]! - expected[i]!);
    if (!(d <= worst)) worst = Number.isNaN(d) ? Number.POSITIVE_INFINITY : d;
    scale = Math.max(scale, Math.abs(expected[i]!));
  }
  return worst / scale;
}

/** Build fresh tensors on `backend`, run `fn`, read the results, dispose everything it made (and fail on a leak). */
export async function on(backend: 'cpu' | 'wasm', fn: () => tf.Tensor | tf.Tensor[]): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  const before = tf.memory().numTensors;
  const outs = tf.tidy(fn);
  const list = Array.isArray(outs) ? outs : [outs];
  const values: Float32Array[] = [];
  for (const t of list) values.push(Float32Array.from(await t.data()));
  tf.dispose(list);
  if (tf.memory().numTensors !== before) throw new Error(`leaked ${tf.memory().numTensors - before} tensors on ${backend}`);
  return values;
}
