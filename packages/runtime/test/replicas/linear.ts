import * as tf from '@tensorflow/tfjs-core';
import type { CreateReplica, Shard } from '@gq/runtime/parallel';

/** y = x·W + b with an MSE loss and Adam; the statistics are the shard's squared-error sum and count. */
export const createReplica: CreateReplica = ({ options }) => {
  const { inputs, outputs, seed } = options as { inputs: number; outputs: number; seed: number };
  const weight = tf.variable(tf.randomNormal([inputs, outputs], 0, 0.1, 'float32', seed));
  const bias = tf.variable(tf.zeros([outputs]));
  const optimizer = tf.train.adam(0.05);
  const variables = [weight, bias];
  return {
    variables,
    computeGradients(shard: Shard) {
      const x = tf.tensor(shard.x!.data, [...shard.x!.shape]);
      const y = tf.tensor(shard.y!.data, [...shard.y!.shape]);
      const { value, grads } = tf.variableGrads(() => tf.mean(tf.squaredDifference(tf.add(tf.matMul(x, weight), bias), y)), variables);
      const loss = value.dataSync()[0]!;
      tf.dispose([x, y, value]);
      return { loss, grads: variables.map((v) => grads[v.name]!), stats: { sum: loss * shard.x!.shape[0]!, n: shard.x!.shape[0]! } };
    },
    applyGradients(grads, combined) {
      (globalThis as { lastCombined?: unknown }).lastCombined = combined;
      optimizer.applyGradients(variables.map((v, i) => ({ name: v.name, tensor: grads[i]! })));
    },
    call(method) {
      if (method === 'numTensors') return tf.memory().numTensors;
      if (method === 'lastCombined') return (globalThis as { lastCombined?: unknown }).lastCombined;
      throw new Error(`unknown method ${method}`);
    },
    dispose() {
      optimizer.dispose();
      tf.dispose(variables);
    },
  };
};
