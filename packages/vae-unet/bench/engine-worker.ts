import * as tf from '@tensorflow/tfjs-core';
import { ensureGradients, registerTrainingKernels, useBackend } from '@gq/runtime';
import type { CreateWorker } from '@gq/runtime/parallel';
import { createBenchModel } from './engine-model.js';
import { selectKernels, type EngineBenchOptions } from './engine-replica.js';

/**
 * This thread's rate on n×n by n×n float32 products (the engine's matrix product), in FLOP/s: `reps`
 * products back to back after one warm-up, total time (not the best one, so that threads running
 * at once are measured while they overlap).
 */
export async function gemmRate(n = 512, reps = 20): Promise<number> {
  const a = tf.randomNormal([n, n], 0, 1, 'float32', 1);
  const b = tf.randomNormal([n, n], 0, 1, 'float32', 2);
  try {
    const product = async (): Promise<void> => {
      const c = tf.matMul(a, b);
      await c.data();
      c.dispose();
    };
    await product();
    const start = performance.now();
    for (let i = 0; i < reps; i++) await product();
    return (2 * n ** 3 * reps) / ((performance.now() - start) / 1000);
  } finally {
    tf.dispose([a, b]);
  }
}

/** What an inference thread of the engine bench answers: encode or decode its share of a batch, or time a product. */
export interface EngineWorkerCalls {
  encode: { args: { images: Float32Array; shape: number[] }; result: number };
  /** Decode the latent of this thread's last `encode`. */
  decode: { args: undefined; result: number };
  /** `gemmRate` of this thread, over `reps` products (all threads asked at once share the cores). */
  gemm: { args: { reps: number }; result: number };
}

/** One inference thread: its own wasm backend and a copy of the model (same seed, so the same weights). */
export const createWorker: CreateWorker<EngineWorkerCalls, EngineBenchOptions> = async ({ options }) => {
  await useBackend('wasm');
  await ensureGradients();
  registerTrainingKernels();
  selectKernels(options);
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
      gemm: ({ reps }) => gemmRate(512, reps),
    },
    dispose() {
      latent?.dispose();
      model.dispose();
    },
  };
};
