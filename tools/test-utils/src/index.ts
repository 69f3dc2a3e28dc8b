import * as tf from '@tensorflow/tfjs-core';
import { ensureGradients, useBackend, type BackendName } from '@gq/runtime';

/** Start a backend (default cpu) with gradients registered; call in `beforeAll`. */
export async function setupBackend(name: BackendName = 'cpu'): Promise<void> {
  await useBackend(name);
  await ensureGradients();
}

/** Run `fn` and return how many tensors it left allocated (0 means no leak). */
export async function tensorGrowth(fn: () => unknown | Promise<unknown>): Promise<number> {
  const before = tf.memory().numTensors;
  await fn();
  return tf.memory().numTensors - before;
}

/** PyTorch NCHW values (a fixture's) → our NHWC float32 tensor (caller disposes). */
export function nhwcFromNchw(data: ArrayLike<number>, shape: readonly number[]): tf.Tensor4D {
  return tf.tidy(() => tf.transpose(tf.tensor4d(Float32Array.from(data), shape as [number, number, number, number]), [0, 2, 3, 1]));
}

/** An NHWC tensor's values in PyTorch's NCHW order, to compare with a fixture (t is not disposed). */
export async function nchwData(t: tf.Tensor4D): Promise<Float32Array> {
  const transposed = tf.transpose(t, [0, 3, 1, 2]);
  try {
    return (await transposed.data()) as Float32Array;
  } finally {
    transposed.dispose();
  }
}

export { repoRoot, fixturesDir, fixturePath, readFixtureJson, readFixtureBytes, readFixtureTensors } from './fixtures.js';
export { bitDifferences, maxAbsDiff } from './compare.js';
export { expectCodedError } from './expect.js';
export type { CodedErrorClass } from './expect.js';
export { seededRandom, seededNormal, randomNormalTensor, randomImages, linearReadout } from './random.js';
export { gradientProblems, safetensorsDifferences, treeDifferences } from './params.js';
export { readVaeFixture, splitMomentsError } from './vae-fixture.js';
export type { VaeFixture } from './vae-fixture.js';
export { vaeGradientCheck } from './vae-model.js';
export type { VaeGradientCheck, VaeModel } from './vae-model.js';
