import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';

/*
 * @gq/core sits below @gq/test-utils (which uses core's generators), so its tests set up tfjs
 * themselves: the cpu backend, and tfjs-layers' copy of the gradient registrations that tfjs-core's
 * Node build leaves out.
 */
export async function useCpu(): Promise<void> {
  await tf.setBackend('cpu');
  if (tf.getGradient('Sum') === undefined) await import('@tensorflow/tfjs-layers');
}

/** Tensors left allocated by `fn` (0 means no leak). */
export async function leakedTensors(fn: () => unknown): Promise<number> {
  const before = tf.memory().numTensors;
  await fn();
  return tf.memory().numTensors - before;
}
