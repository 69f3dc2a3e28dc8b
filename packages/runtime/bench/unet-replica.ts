import * as tf from '@tensorflow/tfjs-core';
import type { CreateReplica, Shard } from '@gq/runtime/parallel';
import { createUnetStep } from './unet-step.js';

/** The bench's UNet-like step as a data-parallel replica: gradients on the shard, Adam on the average. */
export const createReplica: CreateReplica = ({ options }) => {
  const { seed, size } = options as { seed: number; size: number };
  const model = createUnetStep(seed, { batch: 1, size });
  const variables = [...model.variables];
  return {
    variables,
    async computeGradients(shard: Shard) {
      const images = tf.tensor4d(shard.images!.data as Float32Array, shard.images!.shape as [number, number, number, number]);
      const { value, grads } = tf.variableGrads(() => model.lossOn(images), variables);
      const loss = (await value.data())[0]!;
      tf.dispose([images, value]);
      return { loss, grads: variables.map((v) => grads[v.name]!) };
    },
    applyGradients(gradients) {
      model.optimizer.applyGradients(variables.map((v, i) => ({ name: v.name, tensor: gradients[i]! })));
    },
    dispose() {
      model.dispose();
    },
  };
};
