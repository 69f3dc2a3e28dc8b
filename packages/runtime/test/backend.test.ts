import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { ensureGradients, hasGradients, relaxedSimdAvailable, RuntimeError, useBackend } from '@gq/runtime';

describe('useBackend', () => {
  it('starts cpu and wasm and reports which one runs', async () => {
    expect((await useBackend('cpu')).name).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
    expect((await useBackend('wasm')).name).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    const sum = tf.sum(tf.tensor1d([1, 2, 3.5]));
    expect(await sum.data()).toEqual(new Float32Array([6.5]));
    sum.dispose();
  });

  it('wasm in Node makes relaxed SIMD available (Node 20 by V8 flag) and says so', async () => {
    const info = await useBackend('wasm');
    expect(relaxedSimdAvailable()).toBe(true);
    expect(info.detail).toContain('relaxed SIMD');
  });

  it('rejects an unknown name with the valid choices', async () => {
    const error = await useBackend('nonsense' as 'cpu').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RuntimeError);
    expect((error as RuntimeError).code).toBe('unknown-backend');
    expect((error as Error).message).toMatch(/useBackend: name must be one of 'auto'.*got "nonsense"/);
  });

  it('explains why an uninstalled backend cannot start and lists what is available', async () => {
    const error = await useBackend('tensorflow').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RuntimeError);
    expect((error as RuntimeError).code).toBe('backend-unavailable');
    expect((error as Error).message).toMatch(/could not start 'tensorflow'.*Available here: .*wasm.*cpu/);
  });

  it("'auto' falls through to the fastest backend that starts", async () => {
    const info = await useBackend('auto', { prefer: ['tensorflow', 'wasm', 'cpu'] });
    expect(info.name).toBe('wasm');
    expect(info.skipped).toHaveLength(1);
    expect(info.skipped[0]).toMatch(/^tensorflow: /);
  });
});

describe('ensureGradients', () => {
  it('registers gradients once, and tf.grad then matches d/dx Σx³ = 3x²', async () => {
    await useBackend('cpu');
    await Promise.all([ensureGradients(), ensureGradients()]);
    await ensureGradients();
    expect(hasGradients()).toBe(true);
    const dx = tf.grad((x: tf.Tensor) => tf.sum(tf.pow(x, 3)))(tf.tensor1d([1, -2, 0.5]));
    expect(Array.from(await dx.data())).toEqual([3, 12, 0.75]);
    dx.dispose();
  });
});
