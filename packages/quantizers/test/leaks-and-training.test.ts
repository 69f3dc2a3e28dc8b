import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { setupBackend, tensorGrowth } from '@gq/test-utils';
import { isGqError } from '@gq/core';
import { bsq, fsq, lfq, tokenBridge, vq, QuantizerError, type TrainableQuantizer } from '@gq/quantizers';

const C = 8;

function all(): [string, () => TrainableQuantizer<object>][] {
  return [
    ['vq', () => vq({ codebookSize: 16, dim: 4, channels: C, seed: 1 })],
    ['vq ema + l2norm + restart', () => vq({ codebookSize: 16, dim: 4, channels: C, seed: 1, ema: true, l2norm: true, deadCodeRestart: { every: 1 } })],
    ['fsq', () => fsq({ levels: [8, 8, 8, 5, 5, 5, 4, 4] })],
    ['lfq', () => lfq({ channels: C, subCodebooks: 2 })],
    ['bsq', () => bsq({ channels: C })],
    ['tokenBridge', () => tokenBridge({ bits: 2, channels: C })],
  ];
}

describe('every quantizer', () => {
  beforeAll(async () => {
    await setupBackend('cpu');
  });

  for (const [name, make] of all()) {
    it(`${name}: trains under optimizer.minimize (straight-through gradients reach z) and leaks no tensors`, async () => {
      const z = tf.variable(tf.tidy(() => tf.randomNormal([2, 3, 3, C], 0, 1, 'float32', 5)));
      const target = tf.tidy(() => tf.randomNormal([2, 3, 3, C], 0, 0.5, 'float32', 6));
      const optimizer = tf.train.adam(0.01);
      const q = make();
      const before = await z.data();
      const growth = await tensorGrowth(async () => {
        for (let step = 0; step < 3; step++) {
          let stats: { read(): Promise<unknown> } | undefined;
          optimizer.minimize(() => {
            const out = q.quantize(z, { training: true });
            stats = out.stats;
            return tf.add(tf.mean(tf.square(tf.sub(out.zq, target))), out.auxLoss) as tf.Scalar;
          }, false, [z, ...('trainableVariables' in q ? (q as { trainableVariables: tf.Variable[] }).trainableVariables : [])]);
          await stats!.read();
        }
        const inference = q.quantize(z);
        const codes = q.dequantize(inference.indices);
        // Inference output equals the dequantised indices exactly.
        expect(Array.from(await codes.data())).toEqual(Array.from(await inference.zq.data()));
        inference.stats.dispose();
        tf.dispose([inference.zq, inference.indices, inference.auxLoss, codes]);
      });
      // Adam creates its two moment variables per trained variable on first use.
      const trained = 1 + ('trainableVariables' in q ? (q as { trainableVariables: tf.Variable[] }).trainableVariables.length : 0);
      expect(growth).toBe(2 * trained);
      optimizer.dispose();
      expect(Array.from(await z.data())).not.toEqual(Array.from(before));
      const afterDispose = tf.memory().numTensors;
      q.dispose();
      tf.dispose([z, target]);
      expect(tf.memory().numTensors).toBeLessThan(afterDispose);
    });
  }

  it('each is a TrainableQuantizer of C = 8 channels with the bits per position of its definition', () => {
    // VQ: G·log2 K = 2·4; FSQ: Σ log2 L_c; LFQ/BSQ: one bit per channel; TokenBridge: B = 2 per channel.
    const expected: Record<string, [string, number]> = {
      vq: ['vq', 8],
      'vq ema + l2norm + restart': ['vq', 8],
      fsq: ['fsq', 3 * 3 + 3 * Math.log2(5) + 2 * 2],
      lfq: ['lfq', 8],
      bsq: ['bsq', 8],
      tokenBridge: ['tokenBridge', 16],
    };
    for (const [name, make] of all()) {
      const q = make();
      const [kind, bits] = expected[name]!;
      expect([q.kind, q.channels], name).toEqual([kind, C]);
      expect(q.bitsPerPosition, name).toBeCloseTo(bits, 12);
      q.dispose();
    }
  });

  it('throws QuantizerError, a GqError from @gq/quantizers', () => {
    let caught: unknown;
    try {
      vq({ codebookSize: 16, dim: 3, channels: C, seed: 1 });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(QuantizerError);
    expect(isGqError(caught)).toBe(true);
    expect(caught).toMatchObject({ name: 'QuantizerError', source: '@gq/quantizers', code: 'bad-option' });
  });
});
