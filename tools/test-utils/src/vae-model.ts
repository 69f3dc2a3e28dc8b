import * as tf from '@tensorflow/tfjs-core';
import { gradientProblems } from './params.js';
import { linearReadout } from './random.js';

type Params = Record<string, tf.Tensor>;

/** A VAE's forward functions with its config bound. */
export interface VaeModel<Z extends tf.Tensor> {
  encode(params: Params, x: tf.Tensor4D): { mu: Z; logVar: Z };
  decode(params: Params, z: Z): tf.Tensor;
  encodeMoments(params: Params, x: tf.Tensor4D): tf.Tensor;
}

export interface VaeGradientCheck {
  /** `gradientProblems` of the loss: parameters whose gradient is missing, non-finite or all zero. */
  readonly problems: string[];
  /** Tensors left behind by one more gradient step (0 means none leaked). */
  readonly stepGrowth: number;
  /** Tensors left behind by encode, decode and encodeMoments once disposed (0 means none leaked). */
  readonly forwardGrowth: number;
}

/**
 * Differentiate a fixed random linear read-out of μ, log σ² (shaped like z) and the decoding of z
 * (shaped like x) with respect to every parameter, so that no gradient cancels by symmetry, and
 * count the tensors a gradient step and a forward pass leave behind.
 */
export async function vaeGradientCheck<Z extends tf.Tensor>(model: VaeModel<Z>, params: Params, x: tf.Tensor4D, z: Z, readoutSeed = 3): Promise<VaeGradientCheck> {
  const readout = linearReadout([z.shape, z.shape, x.shape], readoutSeed);
  try {
    const loss = (tree: Params): tf.Scalar => {
      const { mu, logVar } = model.encode(tree, x);
      return readout.loss([mu, logVar, model.decode(tree, z)]);
    };
    const step = (): Promise<string[]> => gradientProblems(loss, params);
    const problems = await step();
    const beforeStep = tf.memory().numTensors;
    await step();
    const stepGrowth = tf.memory().numTensors - beforeStep;
    const beforeForward = tf.memory().numTensors;
    const { mu, logVar } = model.encode(params, x);
    tf.dispose([mu, logVar, model.decode(params, z), model.encodeMoments(params, x)]);
    return { problems, stepGrowth, forwardGrowth: tf.memory().numTensors - beforeForward };
  } finally {
    readout.dispose();
  }
}
