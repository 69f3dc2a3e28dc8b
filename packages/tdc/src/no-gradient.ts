import * as tf from '@tensorflow/tfjs-core';

/**
 * Evaluate `fn(x)` as a constant of the differentiation: the ops inside run off the gradient tape
 * (a custom-gradient forward pass is not recorded), and the gradient with respect to `x` is zero.
 * This is how comparison masks (`tf.greater`, `tf.less`, which have no registered gradient) can be
 * used inside a function that `tf.grad` or `optimizer.minimize` differentiates.
 */
export function constantOf<T extends tf.Tensor>(x: tf.Tensor, fn: (x: tf.Tensor) => T): T {
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const input = args[0] as tf.Tensor;
    return { value: tf.tidy(() => fn(input)), gradFunc: () => tf.zerosLike(input) };
  });
  return op(x) as T;
}
