import * as tf from '@tensorflow/tfjs-core';
import { ensureGradients, registerTrainingKernels, useBackend } from '@gq/runtime';
import type { CreateWorker } from '@gq/runtime/parallel';
import { createBenchModel } from './engine-model.js';
import { selectKernels, type EngineBenchOptions } from './engine-replica.js';

/** What an inference thread of the engine bench answers: encode or decode its share of a batch. */
export interface EngineWorkerCalls {
  encode: { args: { images: Float32Array; shape: number[] }; result: number };
  /** Decode the latent of this thread's last `encode`. */
  decode: { args: undefined; result: number };
}

/** One inference thread: its own wasm backend and a copy of the model (same seed, so the same weights). */
export const createWorker: CreateWorker<EngineWorkerCalls, EngineBenchOptions> = async ({ options }) => {
  await useBackend('wasm');
  await ensureGradients();
  registerTrainingKernels();
  selectKernels(options.fused);
  const model = createBenchModel(options.model, options.seed);
  let latent: tf.Tensor | undefined;
  const run = async (fn: () => tf.Tensor): Promise<number> => {
    const out = fn();
    const first = (await out.data())[0]!;
    out.dispose();
    return first;
  };
  return {
    handlers: {
      async encode({ images, shape }) {
        const x = tf.tensor4d(images, shape as [number, number, number, number]);
        const { mu, logVar } = model.encode(x);
        latent?.dispose();
        latent = mu;
        const first = await run(() => logVar);
        x.dispose();
        await mu.data();
        return first;
      },
      async decode() {
        return run(() => model.decode(latent!));
      },
    },
    dispose() {
      latent?.dispose();
      model.dispose();
    },
  };
};
