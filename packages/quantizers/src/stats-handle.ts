import * as tf from '@tensorflow/tfjs-core';
import { QuantizerError } from './errors.js';

/** Statistics of one `quantize` call, held as kept tensors (they survive tf.tidy / minimize). */
export interface StatsHandle<S> {
  /** Reads the statistics, disposes the held tensors. */
  read(): Promise<S>;
  /** Frees the held tensors without reading. */
  dispose(): void;
  readonly isDisposed: boolean;
}

type Values = Record<string, Float32Array | Int32Array>;

export class TensorStats<S> implements StatsHandle<S> {
  private held: Record<string, tf.Tensor> | null;

  constructor(
    tensors: Record<string, tf.Tensor>,
    private readonly decode: (values: Values) => S,
  ) {
    for (const t of Object.values(tensors)) tf.keep(t);
    this.held = tensors;
  }

  get isDisposed(): boolean {
    return this.held === null;
  }

  async read(): Promise<S> {
    const held = this.held;
    if (held === null) throw new QuantizerError('disposed', 'StatsHandle.read: these statistics were already read or disposed');
    this.held = null;
    const keys = Object.keys(held);
    try {
      const arrays = await Promise.all(keys.map((k) => held[k]!.data()));
      const values: Values = {};
      keys.forEach((k, i) => (values[k] = arrays[i] as Float32Array | Int32Array));
      return this.decode(values);
    } finally {
      tf.dispose(Object.values(held));
    }
  }

  dispose(): void {
    if (this.held) tf.dispose(Object.values(this.held));
    this.held = null;
  }
}
