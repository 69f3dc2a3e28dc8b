import * as tf from '@tensorflow/tfjs-core';
import { RuntimeError } from '../errors.js';
import type { CreateReplica, Replica, ReplicaContext, ReplicaState, Shard } from './protocol.js';

/**
 * Wraps a replica: flattens its gradients into one Float32Array (the unit that crosses threads and
 * is averaged), and turns an averaged flat vector back into per-variable tensors for `applyGradients`.
 * The same code runs in worker threads and, for a single worker, in the calling thread.
 */
export class ReplicaHost {
  readonly sizes: readonly number[];
  readonly total: number;

  private constructor(readonly replica: Replica) {
    this.sizes = replica.variables.map((v) => v.size);
    this.total = this.sizes.reduce((a, b) => a + b, 0);
  }

  static async create(create: CreateReplica, context: ReplicaContext): Promise<ReplicaHost> {
    return new ReplicaHost(await create(context));
  }

  async gradients(shard: Shard): Promise<{ loss: number; grads: Float32Array; stats: unknown; computeMs: number; packMs: number }> {
    const start = performance.now();
    const result = await this.replica.computeGradients(shard);
    const computed = performance.now();
    try {
      if (result.grads.length !== this.sizes.length) {
        throw new RuntimeError(
          'replica-gradients',
          `computeGradients: must return one gradient per variable (${this.sizes.length}), got ${result.grads.length}`,
        );
      }
      const flat = new Float32Array(this.total);
      let offset = 0;
      for (let i = 0; i < result.grads.length; i++) {
        const grad = result.grads[i]!;
        if (grad.size !== this.sizes[i]) {
          throw new RuntimeError(
            'replica-gradients',
            `computeGradients: gradient ${i} must have ${this.sizes[i]} elements, got shape [${grad.shape.join(',')}]`,
          );
        }
        flat.set((await grad.data()) as Float32Array, offset);
        offset += grad.size;
      }
      if (!Number.isFinite(result.loss)) {
        throw new RuntimeError('non-finite-loss', `computeGradients: loss must be finite, got ${result.loss}`);
      }
      const bad = firstNonFinite(flat);
      if (bad >= 0) {
        throw new RuntimeError('non-finite-gradient', `computeGradients: gradients must be finite, got ${flat[bad]} at element ${bad}`);
      }
      return { loss: result.loss, grads: flat, stats: result.stats, computeMs: computed - start, packMs: performance.now() - computed };
    } finally {
      tf.dispose(result.grads as tf.Tensor[]);
    }
  }

  /** Apply the averaged gradients; returns the milliseconds it took (unpacking included). */
  async apply(flat: Float32Array, combined: unknown): Promise<number> {
    const start = performance.now();
    const grads: tf.Tensor[] = [];
    let offset = 0;
    for (let i = 0; i < this.sizes.length; i++) {
      const variable = this.replica.variables[i]!;
      grads.push(tf.tensor(flat.subarray(offset, offset + variable.size), variable.shape, 'float32'));
      offset += variable.size;
    }
    try {
      await this.replica.applyGradients(grads, combined);
    } finally {
      tf.dispose(grads);
    }
    return performance.now() - start;
  }

  async getState(): Promise<ReplicaState> {
    const arrays: Record<string, { shape: number[]; data: Float32Array }> = {};
    for (let i = 0; i < this.replica.variables.length; i++) {
      const variable = this.replica.variables[i]!;
      arrays[`variable:${i}:${variable.name}`] = {
        shape: [...variable.shape],
        data: (await variable.data()) as Float32Array,
      };
    }
    const extra = this.replica.getState !== undefined ? await this.replica.getState() : { arrays: {}, json: null };
    return { arrays: { ...arrays, ...extra.arrays }, json: extra.json };
  }

  async setState(state: ReplicaState): Promise<void> {
    const rest: Record<string, ReplicaState['arrays'][string]> = {};
    for (const [key, value] of Object.entries(state.arrays)) {
      const match = /^variable:(\d+):/.exec(key);
      if (match === null) {
        rest[key] = value;
        continue;
      }
      const variable = this.replica.variables[Number(match[1])];
      if (variable === undefined || variable.size !== value.data.length) {
        throw new RuntimeError('bad-state', `setState: ${key} does not match the replica's variables`);
      }
      tf.tidy(() => variable.assign(tf.tensor(value.data, variable.shape, variable.dtype)));
    }
    if (this.replica.setState !== undefined) await this.replica.setState({ arrays: rest, json: state.json });
  }

  /** Run the replica's handler for `method`: its `calls` entry, else its untyped `call`. */
  call(method: string, args: unknown): Promise<unknown> | unknown {
    const calls = this.replica.calls as Readonly<Record<string, (args: unknown) => unknown>> | undefined;
    const handler = calls !== undefined && Object.hasOwn(calls, method) ? calls[method] : undefined;
    if (handler !== undefined) return handler(args);
    if (this.replica.call === undefined) {
      throw new RuntimeError('no-call', `call: the replica handles no '${method}' (it has neither calls.${method} nor call())`);
    }
    return this.replica.call(method, args);
  }

  /** Free the replica. */
  dispose(): void {
    this.replica.dispose();
  }
}

/**
 * Index of the first NaN or ±Infinity in `values`, or −1. One pass of g·0 summed (NaN as soon as any
 * g is not finite) finds whether there is one about 8× as fast as `findIndex` with a predicate
 * (0.6 against 5 ms for a 648 k-parameter UNet's gradients); only then is the index searched.
 */
export function firstNonFinite(values: Float32Array): number {
  let probe = 0;
  for (let i = 0; i < values.length; i++) probe += values[i]! * 0;
  if (probe === 0) return -1;
  return values.findIndex((g) => !Number.isFinite(g));
}

