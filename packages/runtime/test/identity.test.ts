import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { createAdam, ensureGradients, registerTrainingKernels, useBackend } from '@gq/runtime';
import { trainingKernelStatus } from '@gq/runtime/internal';
import { normals } from './helpers/numeric.js';

/*
 * The wasm Identity replacement: a clone shares its source's buffer (one more reference, as
 * Reshape), where wasm's own kernel copies it. What must hold: the same values, no new backend
 * buffer, each holder outliving the other, and a buffer rewritten in place (the fused Adam) never
 * changing a clone taken before.
 */

beforeAll(async () => {
  await useBackend('cpu');
  await useBackend('wasm');
  await ensureGradients();
  registerTrainingKernels();
});

describe('Identity on wasm', () => {
  it('clones with the same values and shape, each holder outliving the other', async () => {
    const values = normals(1, 1000);
    const x = tf.tensor2d(values, [10, 100]);
    const before = trainingKernelStatus().Identity.fastCalls;
    const y = tf.clone(x);
    expect(trainingKernelStatus().Identity.fastCalls).toBe(before + 1);
    expect(y.shape).toEqual([10, 100]);
    x.dispose();
    expect(Float32Array.from(await y.data())).toEqual(values);
    y.dispose();
    const z = tf.tensor1d(values);
    tf.clone(z).dispose();
    expect(Float32Array.from(await z.data())).toEqual(values);
    z.dispose();
  });

  it("adds no backend buffer for a clone (wasm's own Identity adds one)", () => {
    const x = tf.tensor1d(normals(2, 64));
    const buffers = tf.engine().backend.numDataIds();
    const y = tf.clone(x);
    expect(tf.engine().backend.numDataIds()).toBe(buffers);
    tf.dispose([x, y]);
  });

  it('keeps a clone of a weight unchanged through a fused Adam step on that weight', () => {
    const w = tf.variable(tf.tensor1d(normals(3, 1027)));
    const adam = createAdam(1e-2);
    const step = () => adam.applyGradients([{ name: w.name, tensor: tf.tensor1d(normals(4, 1027)) }]);
    step();
    step();
    const fusedBefore = adam.fusedSteps;
    const snapshot = tf.clone(w);
    const kept = Float32Array.from(snapshot.dataSync());
    step();
    // Shared buffer: the step takes the tfjs path and the clone keeps the old values.
    expect(adam.fusedSteps).toBe(fusedBefore);
    expect(Float32Array.from(snapshot.dataSync())).toEqual(kept);
    expect(Float32Array.from(w.dataSync())).not.toEqual(kept);
    snapshot.dispose();
    step();
    expect(adam.fusedSteps).toBe(fusedBefore + 1);
    adam.dispose();
    w.dispose();
  });

  it('differentiates through clone like any op', () => {
    const x = tf.tensor1d([1, 2, 3]);
    const dx = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.clone(t), t)))(x);
    expect(Array.from(dx.dataSync())).toEqual([2, 4, 6]);
    tf.dispose([x, dx]);
  });
});
