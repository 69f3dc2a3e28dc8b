import * as tf from '@tensorflow/tfjs-core';

/**
 * Start a backend for tests (default cpu) with gradients registered; call in `beforeAll`.
 *
 * Deliberately not @gq/runtime's `useBackend` + `ensureGradients`: @gq/runtime depends on @gq/core
 * and @gq/codebook, whose tests use this package, so depending on it here would close a cycle in
 * the build graph. The two steps are the plain tfjs ones: import the backend package and select
 * it, then load the CommonJS build of tfjs-layers, which carries its own copy of tfjs-core's
 * gradient registrations (the registries are process globals, so every copy of tfjs-core sees them).
 */
export async function setupBackend(name: 'cpu' | 'wasm' = 'cpu'): Promise<void> {
  if (name === 'wasm') await import('@tensorflow/tfjs-backend-wasm');
  else await import('@tensorflow/tfjs-backend-cpu');
  if (!(await tf.setBackend(name))) throw new Error(`setupBackend: tf.setBackend('${name}') must succeed, got false`);
  await tf.ready();
  // The cpu backend prints a "use tfjs-node" banner on first use in Node; tests chose cpu.
  if (name === 'cpu') (tf.backend() as { firstUse?: boolean }).firstUse = false;
  if (tf.getGradient('Sum') === undefined) await import('@tensorflow/tfjs-layers');
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
export type { RawTensor, SafetensorsReader } from './tensor-file.js';
export { seededRandom, seededNormal, randomNormalTensor, randomImages, linearReadout } from './random.js';
export { gradientProblems, safetensorsDifferences, treeDifferences } from './params.js';
export { readVaeFixture, splitMomentsError } from './vae-fixture.js';
export type { VaeFixture } from './vae-fixture.js';
export { vaeGradientCheck } from './vae-model.js';
export type { VaeGradientCheck, VaeModel } from './vae-model.js';
export { erfc, normalCdf } from './normal.js';
