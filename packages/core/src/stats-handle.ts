import * as tf from '@tensorflow/tfjs-core';
import { CoreError } from './errors.js';

/**
 * Statistics of one `quantize` call, held until read. They survive `tf.tidy` and
 * `optimizer.minimize`, so a training step can return them and read them after the step.
 */
export interface StatsHandle<S> {
  /** Reads the statistics and frees what the handle holds; a second read throws. */
  read(): Promise<S>;
  /** Frees the held tensors without reading. */
  dispose(): void;
  /** True once `read` or `dispose` ran. */
  readonly isDisposed: boolean;
}

/** What a `TensorStats` hands its decoder: the held tensors' data, by name. */
export type TensorStatsValues = Record<string, Float32Array | Int32Array>;

/**
 * A `StatsHandle` over named tensors: the constructor keeps them (`tf.keep`), `read` downloads
 * them with `await t.data()`, disposes them and returns `decode(values)`. The handle owns the
 * tensors from construction on: the caller must not dispose them.
 */
export class TensorStats<S> implements StatsHandle<S> {
  #held: Record<string, tf.Tensor> | null;
  readonly #decode: (values: TensorStatsValues) => S;

  /**
   * @param tensors the tensors to hold, by name (any shape and dtype that `data()` reads)
   * @param decode turns the downloaded values into the statistics object
   */
  constructor(tensors: Record<string, tf.Tensor>, decode: (values: TensorStatsValues) => S) {
    for (const t of Object.values(tensors)) tf.keep(t);
    this.#held = tensors;
    this.#decode = decode;
  }

  /** True once `read` or `dispose` ran. */
  get isDisposed(): boolean {
    return this.#held === null;
  }

  /**
   * Downloads, frees and decodes the held tensors.
   * @throws CoreError `disposed` when the statistics were already read or disposed
   */
  async read(): Promise<S> {
    const held = this.#held;
    if (held === null) throw new CoreError('disposed', 'StatsHandle.read: these statistics were already read or disposed');
    this.#held = null;
    const keys = Object.keys(held);
    try {
      const arrays = await Promise.all(keys.map((k) => held[k]!.data()));
      const values: TensorStatsValues = {};
      keys.forEach((k, i) => (values[k] = arrays[i] as Float32Array | Int32Array));
      return this.#decode(values);
    } finally {
      tf.dispose(Object.values(held));
    }
  }

  /** Frees the held tensors without reading; harmless when already freed. */
  dispose(): void {
    if (this.#held) tf.dispose(Object.values(this.#held));
    this.#held = null;
  }
}
