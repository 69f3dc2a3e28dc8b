import * as tf from '@tensorflow/tfjs-core';

/*
 * Each helper runs its forward computation inside a custom-gradient op, whose forward pass is not
 * recorded on the gradient tape. That keeps ops without registered gradients (tf.greater, tf.less,
 * tf.equal, comparisons feeding tf.where) out of backpropagation, and makes the forward value
 * exactly `fn(x)` (z + sg(q − z) would round in float32 and miss q by an ulp).
 */

/**
 * `fn(x)` as a constant of the differentiation: same value, zero gradient with respect to `x`.
 * Use it for masks and indices (comparisons have no registered gradient) inside a function that
 * `tf.grad` or `optimizer.minimize` differentiates.
 */
export function constantOf<T extends tf.Tensor>(x: tf.Tensor, fn: (x: tf.Tensor) => T): T {
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const input = args[0] as tf.Tensor;
    return { value: tf.tidy(() => fn(input)), gradFunc: () => tf.zerosLike(input) };
  });
  return op(x) as T;
}

/** Straight-through estimator: forward value `fn(x)` (same shape as x), gradient passed unchanged to x. */
export function straightThrough(x: tf.Tensor, fn: (x: tf.Tensor) => tf.Tensor): tf.Tensor {
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const input = args[0] as tf.Tensor;
    return { value: tf.tidy(() => fn(input)), gradFunc: (dy: tf.Tensor) => tf.clone(dy) };
  });
  return op(x);
}

/** sg(x): the value of x, no gradient. */
export function stopGradient(x: tf.Tensor): tf.Tensor {
  return constantOf(x, (v) => tf.clone(v));
}
