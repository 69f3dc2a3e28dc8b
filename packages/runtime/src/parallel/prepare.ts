import * as tf from '@tensorflow/tfjs-core';
import { registerTrainingKernels } from '../kernels/register.js';

/** Registers the wasm training kernels when the current backend is wasm (idempotent). */
export async function prepareTrainingBackend(): Promise<void> {
  if (tf.getBackend() === 'wasm') registerTrainingKernels();
}
