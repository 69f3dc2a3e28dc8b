import * as tf from '@tensorflow/tfjs-core';
import type { CreateReplica, Shard } from '@gq/runtime/parallel';

/** Squared-error sum and example count of one shard (or, combined, of the global batch). */
export interface SumStats {
  readonly sum: number;
  readonly n: number;
}

/** What this replica and its trainer agree on. */
export interface LinearTypes {
  stats: SumStats;
  combined: SumStats;
  calls: {
    numTensors: { args: undefined; result: number };
    lastCombined: { args: undefined; result: SumStats | undefined };
    predict: { args: { x: Float32Array; rows: number }; result: Float32Array };
  };
  options: { inputs: number; outputs: number; seed: number };
}

/** y = x·W + b with an MSE loss and Adam; the statistics are the shard's squared-error sum and count. */
export const createReplica: CreateReplica<LinearTypes> = ({ options }) => {
  const { inputs, outputs, seed } = options;
  const weight = tf.variable(tf.randomNormal([inputs, outputs], 0, 0.1, 'float32', seed));
  const bias = tf.variable(tf.zeros([outputs]));
  const optimizer = tf.train.adam(0.05);
  const variables = [weight, bias];
  let lastCombined: SumStats | undefined;
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
      lastCombined = combined;
      optimizer.applyGradients(variables.map((v, i) => ({ name: v.name, tensor: grads[i]! })));
    },
    calls: {
      numTensors: () => tf.memory().numTensors,
      lastCombined: () => lastCombined,
      predict: async ({ x, rows }) => {
        const out = tf.tidy(() => tf.add(tf.matMul(tf.tensor2d(x, [rows, inputs]), weight), bias));
        const values = (await out.data()) as Float32Array;
        out.dispose();
        return values;
      },
    },
    call(method, args) {
      if (method === 'echo') return args;
      throw new Error(`unknown method ${method}`);
    },
    dispose() {
      optimizer.dispose();
      tf.dispose(variables);
    },
  };
};
