import * as tf from '@tensorflow/tfjs-core';
import { seededUniform } from '@gq/core';

/**
 * The UNet-like training step the runtime is measured on (issue 2): batch B of S×S×3 images,
 * conv 3→64 → stride-2 conv 64→32 → conv 32→32 → stride-2 conv-transpose 32→64 → concat with the
 * first conv's output → conv 128→64 → conv 64→3, all 3×3 'same' with bias and ReLU (none on the
 * last), loss = MSE against the input, one Adam update. Runs on whatever backend is current.
 */
export interface UnetStepOptions {
  /** Images per step (default 32). */
  readonly batch?: number;
  /** Image side in pixels (default 32; must be even). */
  readonly size?: number;
  /** Adam learning rate (default 1e-3). */
  readonly learningRate?: number;
}

export interface UnetStep {
  /** Run one forward/backward/Adam step; resolves to the loss before the update. */
  step(): Promise<number>;
  /** Trainable variables, in a fixed order (for data-parallel gradient averaging). */
  readonly variables: readonly tf.Variable[];
  /** The loss for the step's batch, without updating (caller disposes). */
  loss(): tf.Scalar;
  /** The loss for other images [b, size, size, 3] (data-parallel shards; caller disposes). */
  lossOn(images: tf.Tensor4D): tf.Scalar;
  /** The optimiser (data-parallel replicas apply averaged gradients with it). */
  readonly optimizer: tf.Optimizer;
  dispose(): void;
}

/** He-normal weights from a seeded generator (Box–Muller), so every backend starts identically. */
function heNormal(random: () => number, shape: number[], fanIn: number): Float32Array {
  const size = shape.reduce((a, b) => a * b, 1);
  const values = new Float32Array(size);
  const scale = Math.sqrt(2 / fanIn);
  for (let i = 0; i < size; i++) {
    const u = Math.max(random(), 1e-12);
    values[i] = scale * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
  }
  return values;
}

/** Smooth synthetic images in [-1, 1]: a few seeded Gaussian blobs over a colour gradient. */
export function syntheticImages(seed: number, batch: number, size: number): Float32Array {
  const random = seededUniform(seed ^ 0x9e3779b9);
  const values = new Float32Array(batch * size * size * 3);
  for (let b = 0; b < batch; b++) {
    const blobs = Array.from({ length: 3 }, () => ({
      cy: random() * size,
      cx: random() * size,
      radius: size * (0.1 + 0.25 * random()),
      colour: [random() * 2 - 1, random() * 2 - 1, random() * 2 - 1],
    }));
    const tilt = [random() - 0.5, random() - 0.5, random() - 0.5];
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        for (let c = 0; c < 3; c++) {
          let v = tilt[c]! * ((x + y) / size - 1);
          for (const blob of blobs) {
            const d2 = ((y - blob.cy) ** 2 + (x - blob.cx) ** 2) / (blob.radius * blob.radius);
            v += blob.colour[c]! * Math.exp(-d2);
          }
          values[((b * size + y) * size + x) * 3 + c] = Math.tanh(v);
        }
      }
    }
  }
  return values;
}

export function createUnetStep(seed: number, options: UnetStepOptions = {}): UnetStep {
  const { batch = 32, size = 32, learningRate = 1e-3 } = options;
  const random = seededUniform(seed);
  const convShapes: Record<string, [number, number, number, number]> = {
    w1: [3, 3, 3, 64],
    w2: [3, 3, 64, 32],
    w3: [3, 3, 32, 32],
    // conv2dTranspose filters are [kh, kw, outChannels, inChannels].
    w4: [3, 3, 64, 32],
    w5: [3, 3, 128, 64],
    w6: [3, 3, 64, 3],
  };
  const weights: Record<string, tf.Variable> = {};
  const biases: Record<string, tf.Variable> = {};
  for (const [name, shape] of Object.entries(convShapes)) {
    const fanIn = name === 'w4' ? shape[0] * shape[1] * shape[3] : shape[0] * shape[1] * shape[2];
    weights[name] = tf.variable(tf.tensor4d(heNormal(random, shape, fanIn), shape), true, `unet/${name}`);
    const outChannels = name === 'w4' ? shape[2] : shape[3];
    biases[name] = tf.variable(tf.zeros([outChannels]), true, `unet/b${name.slice(1)}`);
  }
  const images = tf.tensor4d(syntheticImages(seed, batch, size), [batch, size, size, 3]);
  const optimizer = tf.train.adam(learningRate);
  const variables = Object.keys(convShapes).flatMap((name) => [weights[name]!, biases[name]!]);

  const layer = (input: tf.Tensor4D, name: string, stride: number, relu: boolean): tf.Tensor4D => {
    // One fused kernel for conv + bias + ReLU (XNNPACK applies both in its output pass).
    return tf.fused.conv2d({
      x: input,
      filter: weights[name] as tf.Tensor4D,
      strides: stride,
      pad: 'same',
      bias: biases[name]!,
      activation: relu ? 'relu' : 'linear',
    });
  };
  const lossOn = (input: tf.Tensor4D): tf.Scalar =>
    tf.tidy(() => {
      const n = input.shape[0];
      const h1 = layer(input, 'w1', 1, true);
      const h2 = layer(h1, 'w2', 2, true);
      const h3 = layer(h2, 'w3', 1, true);
      const up = tf.conv2dTranspose(h3, weights.w4 as tf.Tensor4D, [n, size, size, 64], 2, 'same');
      const h4 = tf.relu(tf.add<tf.Tensor4D>(up, biases.w4!));
      const h5 = layer(tf.concat<tf.Tensor4D>([h4, h1], 3), 'w5', 1, true);
      const y = layer(h5, 'w6', 1, false);
      return tf.mean(tf.squaredDifference(y, input));
    });
  const loss = (): tf.Scalar => lossOn(images);

  return {
    variables,
    loss,
    lossOn,
    optimizer,
    async step() {
      const value = optimizer.minimize(loss, true, variables);
      if (value === null) throw new Error('createUnetStep: optimizer.minimize returned no loss');
      const [result] = await value.data();
      value.dispose();
      return result!;
    },
    dispose() {
      optimizer.dispose();
      images.dispose();
      for (const v of variables) v.dispose();
    },
  };
}
