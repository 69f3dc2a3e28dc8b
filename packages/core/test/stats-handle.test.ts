import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { leakedTensors, useCpu } from './setup.js';
import { CoreError, TensorStats } from '@gq/core';

beforeAll(async () => {
  await useCpu();
});

/** Builds a handle inside tf.tidy, as a training step does, so only tf.keep can save its tensors. */
function insideTidy<S>(build: () => TensorStats<S>): TensorStats<S> {
  let handle: TensorStats<S> | undefined;
  tf.tidy(() => {
    handle = build();
  });
  return handle!;
}

describe('TensorStats', () => {
  it('keeps its tensors through tf.tidy, reads and decodes them once, then refuses a second read', async () => {
    const stats = insideTidy(
      () =>
        new TensorStats({ counts: tf.tensor1d([3, 0, 1], 'int32'), loss: tf.scalar(0.25) }, (v) => ({
          counts: Array.from(v['counts']!),
          loss: v['loss']![0]!,
        })),
    );
    expect(stats.isDisposed).toBe(false);
    await expect(stats.read()).resolves.toEqual({ counts: [3, 0, 1], loss: 0.25 });
    expect(stats.isDisposed).toBe(true);
    await expect(stats.read()).rejects.toThrow(CoreError);
    await expect(stats.read()).rejects.toThrow(expect.objectContaining({ code: 'disposed' }));
  });

  it('frees its tensors on read, on dispose and when the decoder throws', async () => {
    const growth = await leakedTensors(async () => {
      await expect(insideTidy(() => new TensorStats({ a: tf.ones([4]) }, (v) => v['a']!.length)).read()).resolves.toBe(4);
      const unread = insideTidy(() => new TensorStats({ a: tf.ones([4]), b: tf.zeros([2]) }, () => 0));
      unread.dispose();
      unread.dispose();
      const failing = new TensorStats({ a: tf.ones([2]) }, () => {
        throw new Error('decode failed');
      });
      await expect(failing.read()).rejects.toThrow('decode failed');
    });
    expect(growth).toBe(0);
  });
});
