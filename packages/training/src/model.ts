import * as tf from '@tensorflow/tfjs-core';
import type { DataParallelTrainer } from '@gq/runtime/parallel';
import { releaseCodebookTensors } from '@gq/codebook';
import { Tokenizer } from '@gq/tokenizer';
import type { Quantizer } from '@gq/quantizers';
import { decodeLatent, encodeLatent } from './backbone.js';
import type { TrainConfig } from './config.js';
import { TrainError } from './errors.js';
import { methodSpec } from './methods.js';
import type { TrainingReplicaTypes } from './replica.js';

/** Named weight arrays as they cross threads: the replica's variables by parameter name. */
export type WeightArrays = Readonly<Record<string, { readonly shape: readonly number[]; readonly data: Float32Array }>>;

/**
 * A trained model in the calling thread, built once from the weights of replica 0: its VAE, the
 * method's quantiser and, for the methods that export one, the GQ `Tokenizer` that ships. Every
 * evaluation and export goes through this object, so the numbers stored in an artifact come from the
 * code that runs the artifact.
 */
export class TrainedModel {
  readonly #params: Record<string, tf.Tensor>;
  readonly #tokenizer: Tokenizer | undefined;
  readonly #trainedCodebook: Float32Array | undefined;
  #disposed = false;

  private constructor(readonly config: TrainConfig, params: Record<string, tf.Tensor>, trainedCodebook: Float32Array | undefined) {
    this.#params = params;
    this.#trainedCodebook = trainedCodebook;
    const spec = methodSpec(config.method);
    this.#tokenizer = spec.exportsArtifact
      ? Tokenizer.create({
          arch: config.arch,
          config: config.model,
          params,
          codebook: { size: 2 ** config.codebookBits, dim: config.dim, seed: config.codebookSeed, method: config.codebookMethod },
          layout: config.layout,
          beta: config.beta,
        })
      : undefined;
  }

  /**
   * Build from weight arrays (e.g. a checkpoint's or a replica's).
   * @param trainedCodebook a learned codebook [K, m] row-major (VQ); without it such a quantiser starts from its seeded initialisation
   */
  static fromWeights(config: TrainConfig, weights: WeightArrays, trainedCodebook?: Float32Array): TrainedModel {
    const params: Record<string, tf.Tensor> = {};
    for (const [name, value] of Object.entries(weights)) params[name] = tf.tensor(value.data, [...value.shape], 'float32');
    try {
      return new TrainedModel(config, params, trainedCodebook);
    } catch (error) {
      tf.dispose(Object.values(params));
      throw error;
    }
  }

  /** Build from a parameter tree (e.g. `initBackbone`'s); the model keeps copies, the caller keeps `params`. */
  static fromParams(config: TrainConfig, params: Readonly<Record<string, tf.Tensor>>): TrainedModel {
    const copies: Record<string, tf.Tensor> = {};
    for (const [name, value] of Object.entries(params)) copies[name] = tf.clone(value);
    try {
      return new TrainedModel(config, copies, undefined);
    } catch (error) {
      tf.dispose(Object.values(copies));
      throw error;
    }
  }

  /** Copy the weights (and a learned codebook) of the trainer's replica 0 into this thread. */
  static async fromTrainer(config: TrainConfig, trainer: DataParallelTrainer<TrainingReplicaTypes>): Promise<TrainedModel> {
    const weights = await trainer.call('weights');
    const codebook = await trainer.call('codebook');
    return TrainedModel.fromWeights(config, weights, codebook?.data);
  }

  /** The GQ tokenizer of a GQ method (what the exported artifact holds); `undefined` for the baselines. */
  get tokenizer(): Tokenizer | undefined {
    this.#check('tokenizer');
    return this.#tokenizer;
  }

  /** The VAE's parameters (owned by this model). */
  get params(): Readonly<Record<string, tf.Tensor>> {
    this.#check('params');
    return this.#params;
  }

  /** Posterior moments (log σ² clamped) in the VAE's latent layout; the caller disposes both. */
  encode(images: tf.Tensor4D): { mu: tf.Tensor; logVar: tf.Tensor } {
    this.#check('encode');
    return encodeLatent(this.config, this.#params, images);
  }

  /** Images from a latent in the VAE's layout; the caller disposes the result. */
  decode(latent: tf.Tensor): tf.Tensor4D {
    this.#check('decode');
    return decodeLatent(this.config, this.#params, latent);
  }

  /** A fresh instance of the method's quantiser (VQ with its trained codebook); the caller disposes it. */
  createQuantizer(): Quantizer<object> {
    this.#check('createQuantizer');
    return methodSpec(this.config.method).createQuantizer(this.config, this.#trainedCodebook);
  }

  /** Free the weights, the tokenizer and the codebook tensors it cached. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    if (this.#tokenizer !== undefined) {
      // The GQ search caches the codebook's features on the device; they go with the model.
      releaseCodebookTensors(this.#tokenizer.codebook);
      this.#tokenizer.dispose();
    }
    tf.dispose(Object.values(this.#params));
  }

  #check(fn: string): void {
    if (this.#disposed) throw new TrainError('disposed', `TrainedModel.${fn}: the model was disposed`);
  }
}
