import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { leakedTensors, useCpu } from './setup.js';
import { constantOf, stopGradient, straightThrough } from '@gq/core';

describe('@gq/core gradient helpers', () => {
  beforeAll(async () => {
    await useCpu();
  });

  const x = (): tf.Tensor => tf.tensor1d([-1.5, -0.25, 0.5, 2]);

  it('constantOf: forward is exactly fn(x), the gradient is zero, ops without gradients are allowed', async () => {
    const input = x();
    // d/dx Σ x·[x > 0] would need tf.greater's gradient, which tfjs does not register.
    const mask = (v: tf.Tensor): tf.Tensor => tf.cast(tf.greater(v, 0), 'float32');
    const value = constantOf(input, mask);
    expect(Array.from(await value.data())).toEqual([0, 0, 1, 1]);
    const grad = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(v, constantOf(v, mask))))(input);
    // Product rule with the mask constant: d/dx = mask.
    expect(Array.from(await grad.data())).toEqual([0, 0, 1, 1]);
    const zero = tf.grad((v: tf.Tensor) => tf.sum(constantOf(v, (w) => tf.square(w))))(input);
    expect(Array.from(await zero.data())).toEqual([0, 0, 0, 0]);
    tf.dispose([input, value, grad, zero]);
  });

  it('straightThrough: forward is fn(x) to the bit, the gradient passes through unchanged', async () => {
    const input = x();
    const rounded = straightThrough(input, (v) => tf.round(v));
    // tf.round rounds half to even: −1.5 → −2, −0.25 → −0, 0.5 → 0, 2 → 2.
    expect(Array.from(await rounded.data())).toEqual([-2, -0, 0, 2]);
    const weights = tf.tensor1d([3, -1, 0.5, 7]);
    const grad = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(weights, straightThrough(v, (w) => tf.round(w)))))(input);
    expect(Array.from(await grad.data())).toEqual([3, -1, 0.5, 7]);
    tf.dispose([input, rounded, weights, grad]);
  });

  it('stopGradient: d/dx Σ x·sg(x) = sg(x) = x (the full derivative would be 2x)', async () => {
    const input = x();
    const grad = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(v, stopGradient(v))))(input);
    expect(Array.from(await grad.data())).toEqual([-1.5, -0.25, 0.5, 2]);
    tf.dispose([input, grad]);
  });

  it('leaves no tensors behind', async () => {
    const input = x();
    const growth = await leakedTensors(() => {
      tf.dispose([constantOf(input, (v) => tf.abs(v)), straightThrough(input, (v) => tf.round(v)), stopGradient(input)]);
      tf.dispose(tf.grad((v: tf.Tensor) => tf.sum(tf.mul(v, stopGradient(v))))(input));
    });
    expect(growth).toBe(0);
    input.dispose();
  });
});
