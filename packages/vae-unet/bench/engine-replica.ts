import * as tf from '@tensorflow/tfjs-core';
import { createAdam, registerTrainingKernels } from '@gq/runtime';
import type { CreateReplica, Shard } from '@gq/runtime/parallel';
import { createBenchModel, type BenchModelName } from './engine-model.js';

/** Options of the engine bench's replica (and inference worker). */
export interface EngineBenchOptions {
  readonly model: BenchModelName;
  readonly seed: number;
  /** Whether the fused layer kernels are installed in this worker. */
  readonly fused: boolean;
  /** Whether, with them, 3×3 convolutions run by Winograd (default true). */
  readonly winograd?: boolean;
  /** Whether the matrix products multiply–add fused (default true). */
  readonly fusedMultiplyAdd?: boolean;
}

/** A worker's wasm backend with or without the fused layer kernels and Winograd (the worker already registered the rest). */
export function selectKernels(options: Pick<EngineBenchOptions, 'fused' | 'winograd' | 'fusedMultiplyAdd'>): void {
  if (tf.getBackend() === 'wasm') registerTrainingKernels({ fused: options.fused, winograd: options.winograd ?? true, fusedMultiplyAdd: options.fusedMultiplyAdd ?? true });
}

/** The engine bench's model as a data-parallel replica: gradients of the bench loss on the shard, Adam on the average. */
export const createReplica: CreateReplica = ({ options, workerIndex }) => {
  const { model: name, seed, fused } = options as EngineBenchOptions;
  selectKernels(options as EngineBenchOptions);
  const model = createBenchModel(name, seed);
  const variables = Object.values(model.params);
  const optimizer = fused ? createAdam(1e-3) : tf.train.adam(1e-3);
  let step = 0;
  return {
    variables,
    async computeGradients(shard: Shard) {
      const images = tf.tensor4d(shard.images!.data as Float32Array, shard.images!.shape as [number, number, number, number]);
      const { value, grads } = tf.variableGrads(() => model.loss(images, seed + 1000 * step + workerIndex), variables);
      const loss = (await value.data())[0]!;
      tf.dispose([images, value]);
      return { loss, grads: variables.map((v) => grads[v.name]!) };
    },
    applyGradients(gradients) {
      optimizer.applyGradients(variables.map((v, i) => ({ name: v.name, tensor: gradients[i]! })));
      step++;
    },
    dispose() {
      optimizer.dispose();
      model.dispose();
    },
  };
};
