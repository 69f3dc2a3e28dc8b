import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { ensureGradients, registerTrainingKernels, useBackend } from '@gq/runtime';
import { trainingKernelStatus } from '@gq/runtime/internal';
import { seededNormal, seededRandom } from '@gq/test-utils';

/** Smooth structured 16×16 gray images: two seeded Gaussian blobs on a tilted ramp, in [-1, 1]. */
function blobImages(seed: number, count: number, size: number): Float32Array {
  const random = seededRandom(seed);
  const out = new Float32Array(count * size * size);
  for (let n = 0; n < count; n++) {
    const blobs = [0, 1].map(() => ({ y: random() * size, x: random() * size, r: 2 + 4 * random(), a: 2 * random() - 1 }));
    const tilt = random() - 0.5;
    for (let y = 0; y < size; y++)
      for (let x = 0; x < size; x++) {
        let v = tilt * ((x - y) / size);
        for (const b of blobs) v += b.a * Math.exp(-((y - b.y) ** 2 + (x - b.x) ** 2) / (b.r * b.r));
        out[(n * size + y) * size + x] = Math.tanh(v);
      }
  }
  return out;
}

function variable(seed: number, shape: [number, number, number, number], fanIn: number): tf.Variable {
  const draw = seededNormal(seed);
  const scale = Math.sqrt(2 / fanIn);
  const values = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => scale * draw());
  return tf.variable(tf.tensor4d(values, shape));
}

describe('a small conv autoencoder trains on wasm with the training kernels', () => {
  beforeAll(async () => {
    await useBackend('wasm');
    await ensureGradients();
    registerTrainingKernels();
  });

  it('loss falls ≥ 10× in 200 Adam steps, with tf.memory().numTensors flat over 100 steps', async () => {
    const batch = 16;
    const size = 16;
    const images = tf.tensor4d(blobImages(3, batch, size), [batch, size, size, 1]);
    // conv stride 2 (16→8) → conv → conv-transpose stride 2 (8→16) → conv, ReLU between.
    const w1 = variable(1, [3, 3, 1, 16], 9);
    const w2 = variable(2, [3, 3, 16, 16], 144);
    const w3 = variable(3, [4, 4, 16, 16], 256); // conv2dTranspose filter: [kh, kw, out, in]
    const w4 = variable(4, [3, 3, 16, 1], 144);
    const biases = [16, 16, 16, 1].map((c) => tf.variable(tf.zeros([c])));
    const optimizer = tf.train.adam(0.01);
    const loss = (): tf.Scalar =>
      tf.tidy(() => {
        const h1 = tf.relu(tf.add(tf.conv2d(images, w1 as tf.Tensor4D, 2, 'same'), biases[0]!));
        const h2 = tf.relu(tf.add(tf.conv2d(h1 as tf.Tensor4D, w2 as tf.Tensor4D, 1, 'same'), biases[1]!));
        const up = tf.conv2dTranspose(h2 as tf.Tensor4D, w3 as tf.Tensor4D, [batch, size, size, 16], 2, 'same');
        const h3 = tf.relu(tf.add(up, biases[2]!));
        const y = tf.add(tf.conv2d(h3 as tf.Tensor4D, w4 as tf.Tensor4D, 1, 'same'), biases[3]!);
        return tf.mean(tf.squaredDifference(y, images));
      });

    const before = trainingKernelStatus();
    const losses: number[] = [];
    let tensorsAt100 = 0;
    for (let step = 0; step < 200; step++) {
      const value = optimizer.minimize(loss, true)!;
      losses.push((await value.data())[0]!);
      value.dispose();
      if (step === 99) tensorsAt100 = tf.memory().numTensors;
      if (step === 149) expect(tf.memory().numTensors).toBe(tensorsAt100);
    }
    expect(tf.memory().numTensors).toBe(tensorsAt100);
    const initial = losses[0]!;
    const final = Math.min(...losses.slice(-10));
    console.log(`autoencoder loss ${initial.toFixed(4)} → ${final.toFixed(5)} (${(initial / final).toFixed(0)}×)`);
    expect(Number.isFinite(final)).toBe(true);
    expect(initial / final, `loss ${initial} → ${final}`).toBeGreaterThanOrEqual(10);

    // The gradients really ran through the training kernels.
    const after = trainingKernelStatus();
    expect(after.Conv2DBackpropFilter.fastCalls - before.Conv2DBackpropFilter.fastCalls).toBe(200 * 4); // three convs and the conv-transpose filter
    expect(after.Conv2DBackpropInput.fastCalls - before.Conv2DBackpropInput.fastCalls).toBeGreaterThanOrEqual(200 * 3);

    optimizer.dispose();
    tf.dispose([images, w1, w2, w3, w4, ...biases]);
  });
});
