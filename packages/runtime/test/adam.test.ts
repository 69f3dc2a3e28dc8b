import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { createAdam, registerTrainingKernels, unregisterTrainingKernels, useBackend } from '@gq/runtime';
import { profileKernels } from '@gq/runtime/internal';
import { normals } from './helpers/numeric.js';

/*
 * createAdam must be tf.train.adam bit for bit: the same float32 operations in the same order, so
 * every comparison here is on the raw bits (Uint32Array), never with a tolerance.
 */

/** Odd lengths (scalar tails of 1–3), a length with a SIMD body and a tail, a conv filter and a scalar. */
const shapes: number[][] = [[1], [3], [5], [1027], [3, 3, 16, 32], []];
const steps = 25;
const learningRate = 2e-3;

beforeAll(async () => {
  await useBackend('cpu');
  await useBackend('wasm');
  registerTrainingKernels();
});

afterAll(() => {
  unregisterTrainingKernels();
});

function bits(values: Float32Array): Uint32Array {
  return new Uint32Array(values.buffer, values.byteOffset, values.length);
}

function size(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Fresh variables (sole owners of their buffers) with seeded values. */
function makeVariables(seed: number): tf.Variable[] {
  return shapes.map((shape, k) => tf.tidy(() => tf.variable(tf.tensor(normals(seed + k, size(shape), 0, 0.5), shape))));
}

/** Seeded gradients of step `t`, at scales from 1e-4 to 10 so that m, v and the bias corrections vary. */
function gradients(variables: readonly tf.Variable[], t: number): { name: string; tensor: tf.Tensor }[] {
  return variables.map((v, k) => ({ name: v.name, tensor: tf.tensor(normals(1000 * t + k, v.size, 0, 10 ** ((k % 6) - 4)), v.shape) }));
}

interface Snapshot {
  readonly weights: Uint32Array[];
  readonly moments: Uint32Array[];
  readonly acc: Uint32Array;
  readonly iterations: number;
}

async function snapshot(optimizer: tf.AdamOptimizer, variables: readonly tf.Variable[]): Promise<Snapshot> {
  const slots = await optimizer.getWeights();
  const iter = slots.find((s) => s.name === 'iter')!;
  const moments = slots.filter((s) => s.name !== 'iter').map((s) => bits(Float32Array.from(s.tensor.dataSync())));
  const iterations = iter.tensor.dataSync()[0]!;
  tf.dispose(iter.tensor);
  const internals = optimizer as unknown as { accBeta1: tf.Variable; accBeta2: tf.Variable };
  const acc = bits(Float32Array.of(internals.accBeta1.dataSync()[0]!, internals.accBeta2.dataSync()[0]!));
  return { weights: variables.map((v) => bits(Float32Array.from(v.dataSync()))), moments, acc, iterations };
}

/** Take steps [from, to) of `optimizer` on `variables`, freeing each step's gradients. */
function train(optimizer: tf.Optimizer, variables: readonly tf.Variable[], from: number, to: number): void {
  for (let t = from; t < to; t++) {
    const grads = gradients(variables, t);
    optimizer.applyGradients(grads);
    tf.dispose(grads.map((g) => g.tensor));
  }
}

/** getState/setState as packages/training's replica does it: copies of the slots, moments rewrapped, accβ carried over. */
async function roundTrip(from: tf.AdamOptimizer, to: tf.AdamOptimizer, release = true): Promise<tf.Tensor[]> {
  const slots = await from.getWeights();
  const copies = slots.map((s) => ({ name: s.name, tensor: tf.tensor(s.tensor.dataSync(), s.tensor.shape, s.tensor.dtype) }));
  tf.dispose(slots.filter((s) => s.name === 'iter').map((s) => s.tensor));
  await to.setWeights(copies);
  const source = from as unknown as { accBeta1: tf.Variable; accBeta2: tf.Variable };
  const target = to as unknown as { accBeta1: tf.Variable; accBeta2: tf.Variable };
  tf.tidy(() => {
    target.accBeta1.assign(tf.scalar(source.accBeta1.dataSync()[0]!));
    target.accBeta2.assign(tf.scalar(source.accBeta2.dataSync()[0]!));
  });
  const tensors = copies.map((c) => c.tensor);
  if (release) {
    tf.dispose(tensors);
    return [];
  }
  return tensors;
}

describe('createAdam on wasm', () => {
  it('matches tf.train.adam bit for bit over 25 steps, fused after the first', async () => {
    await tf.setBackend('wasm');
    const reference = makeVariables(1);
    const fused = makeVariables(1);
    const plain = tf.train.adam(learningRate);
    const adam = createAdam(learningRate);
    train(plain, reference, 0, steps);
    train(adam, fused, 0, steps);
    // The first step creates the moments through tfjs itself; every later one is fused.
    expect(adam.fusedSteps).toBe(steps - 1);
    const expected = await snapshot(plain, reference);
    const actual = await snapshot(adam, fused);
    expect(actual).toEqual(expected);
    expect(actual.iterations).toBe(steps);
    // The weights did move (a step of ~lr per entry), so equality is not vacuous.
    expect(actual.weights[3]).not.toEqual(bits(normals(4, 1027, 0, 0.5)));
    plain.dispose();
    adam.dispose();
    tf.dispose([...reference, ...fused]);
  });

  it('runs no kernels and keeps tensor and buffer counts steady on a fused step', async () => {
    await tf.setBackend('wasm');
    const variables = makeVariables(2);
    const adam = createAdam(learningRate);
    train(adam, variables, 0, 2);
    const tensors = tf.memory().numTensors;
    const buffers = tf.engine().backend.numDataIds();
    const grads = gradients(variables, 2);
    const profile = profileKernels('wasm');
    adam.applyGradients(grads);
    const calls = profile.read().reduce((sum, k) => sum + k.calls, 0);
    profile.stop();
    tf.dispose(grads.map((g) => g.tensor));
    expect(calls).toBe(0);
    train(adam, variables, 3, 8);
    expect(tf.memory().numTensors).toBe(tensors);
    expect(tf.engine().backend.numDataIds()).toBe(buffers);
    expect(adam.fusedSteps).toBe(7);
    adam.dispose();
    tf.dispose(variables);
  });

  it('leaves no stale packed filter behind: a conv after a fused step sees the new weights', async () => {
    await tf.setBackend('wasm');
    const variables = makeVariables(4);
    const filter = variables[4] as tf.Variable<tf.Rank.R4>;
    const x = tf.tensor4d(normals(99, 8 * 8 * 16), [1, 8, 8, 16]);
    const adam = createAdam(learningRate);
    for (let t = 0; t < 3; t++) {
      // The wasm Conv2D caches an XNNPACK operator with the filter packed, keyed by the filter's buffer.
      tf.conv2d(x, filter, 1, 'same').dispose();
      train(adam, variables, t, t + 1);
      const y = tf.conv2d(x, filter, 1, 'same');
      const copy = tf.tensor4d(filter.dataSync(), filter.shape);
      const expected = tf.conv2d(x, copy, 1, 'same');
      expect(bits(Float32Array.from(y.dataSync()))).toEqual(bits(Float32Array.from(expected.dataSync())));
      tf.dispose([y, copy, expected]);
    }
    expect(adam.fusedSteps).toBe(2);
    adam.dispose();
    tf.dispose([x, ...variables]);
  });

  it('continues identically after getWeights/setWeights mid-run', async () => {
    await tf.setBackend('wasm');
    const reference = makeVariables(3);
    const fused = makeVariables(3);
    const plain = tf.train.adam(learningRate);
    const adam = createAdam(learningRate);
    train(plain, reference, 0, 10);
    train(adam, fused, 0, 10);
    const plainResumed = tf.train.adam(learningRate);
    const adamResumed = createAdam(learningRate);
    await roundTrip(plain, plainResumed);
    await roundTrip(adam, adamResumed);
    plain.dispose();
    adam.dispose();
    train(plainResumed, reference, 10, steps);
    train(adamResumed, fused, 10, steps);
    // Restored moments exist already, so even the first step after the restore is fused.
    expect(adamResumed.fusedSteps).toBe(steps - 10);
    expect(await snapshot(adamResumed, fused)).toEqual(await snapshot(plainResumed, reference));
    plainResumed.dispose();
    adamResumed.dispose();
    tf.dispose([...reference, ...fused]);
  });

  it('falls back to tfjs while a buffer is shared, leaving the other holder untouched', async () => {
    await tf.setBackend('wasm');
    const reference = makeVariables(5);
    const fused = makeVariables(5);
    const plain = tf.train.adam(learningRate);
    const adam = createAdam(learningRate);
    train(plain, reference, 0, 3);
    train(adam, fused, 0, 3);
    // A reshape shares the variable's buffer (the wasm Reshape only adds a reference).
    const clone = tf.reshape(fused[4]!, [-1]);
    const before = bits(Float32Array.from(clone.dataSync()));
    train(plain, reference, 3, 6);
    train(adam, fused, 3, 6);
    // Step 3 falls back; its assign moves the variable to a buffer of its own, so steps 4 and 5 fuse.
    expect(adam.fusedSteps).toBe(4);
    expect(bits(Float32Array.from(clone.dataSync()))).toEqual(before);
    clone.dispose();
    // Moments rewrapped by setWeights share the caller's tensors until the caller frees them.
    const plainResumed = tf.train.adam(learningRate);
    const adamResumed = createAdam(learningRate);
    const kept = await roundTrip(adam, adamResumed, false);
    await roundTrip(plain, plainResumed);
    const keptBits = kept.map((t) => bits(Float32Array.from(t.dataSync())));
    train(plainResumed, reference, 6, 9);
    train(adamResumed, fused, 6, 9);
    // The first step falls back; its assigns give the moments buffers of their own, so the rest fuse.
    expect(adamResumed.fusedSteps).toBe(2);
    expect(kept.map((t) => bits(Float32Array.from(t.dataSync())))).toEqual(keptBits);
    tf.dispose(kept);
    train(plainResumed, reference, 9, 12);
    train(adamResumed, fused, 9, 12);
    expect(adamResumed.fusedSteps).toBe(5);
    expect(await snapshot(adamResumed, fused)).toEqual(await snapshot(plainResumed, reference));
    for (const o of [plain, adam, plainResumed, adamResumed]) o.dispose();
    tf.dispose([...reference, ...fused]);
  });
});

describe('createAdam on cpu', () => {
  it('is tf.train.adam', async () => {
    await tf.setBackend('cpu');
    const reference = makeVariables(7);
    const other = makeVariables(7);
    const plain = tf.train.adam(learningRate);
    const adam = createAdam(learningRate);
    train(plain, reference, 0, 5);
    train(adam, other, 0, 5);
    expect(adam.fusedSteps).toBe(0);
    expect(await snapshot(adam, other)).toEqual(await snapshot(plain, reference));
    plain.dispose();
    adam.dispose();
    tf.dispose([...reference, ...other]);
    await tf.setBackend('wasm');
  });
});
