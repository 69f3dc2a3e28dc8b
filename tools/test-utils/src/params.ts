import * as tf from '@tensorflow/tfjs-core';
import { bitDifferences } from './compare.js';
import type { RawTensor, SafetensorsReader } from './tensor-file.js';

/** Names of the tensors present in both trees whose values differ bitwise, or that only one tree has. */
export async function treeDifferences(a: Readonly<Record<string, tf.Tensor>>, b: Readonly<Record<string, tf.Tensor>>): Promise<string[]> {
  const out: string[] = [];
  for (const name of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const x = a[name];
    const y = b[name];
    if (x === undefined || y === undefined || x.dtype !== y.dtype || bitDifferences(x.shape, y.shape) > 0) out.push(name);
    else if (bitDifferences(new Uint32Array(((await x.data()) as Float32Array).buffer), new Uint32Array(((await y.data()) as Float32Array).buffer)) > 0) out.push(name);
  }
  return out;
}

/**
 * Compare two safetensors files, both read with `read` (@gq/safetensors' `parseSafetensors`): the
 * tensor names of `actual` in file order, and the names whose dtype, shape or bytes differ from
 * `expected` (or that only one file holds).
 */
export function safetensorsDifferences(actual: Uint8Array, expected: Uint8Array, read: SafetensorsReader): { keys: string[]; mismatched: string[] } {
  const a = read(actual).tensors;
  const b = read(expected).tensors;
  const mismatched: string[] = [];
  for (const name of new Set([...a.keys(), ...b.keys()])) {
    const x = a.get(name);
    const y = b.get(name);
    const bytes = (t: RawTensor): Uint8Array => new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    if (x === undefined || y === undefined || x.dtype !== y.dtype || bitDifferences(x.shape, y.shape) > 0 || bitDifferences(bytes(x), bytes(y)) > 0) mismatched.push(name);
  }
  return { keys: [...a.keys()], mismatched };
}

/**
 * Names of the parameters whose gradient of `loss` is not finite or is zero everywhere (a parameter
 * the loss does not reach). Disposes every gradient it computes.
 */
export async function gradientProblems(loss: (tree: Record<string, tf.Tensor>) => tf.Scalar, params: Readonly<Record<string, tf.Tensor>>): Promise<string[]> {
  const names = Object.keys(params);
  const grads = tf.grads((...tensors: tf.Tensor[]) => loss(Object.fromEntries(names.map((name, i) => [name, tensors[i]!]))))(names.map((n) => params[n]!));
  const bad: string[] = [];
  try {
    for (let i = 0; i < names.length; i++) {
      const g = (await grads[i]!.data()) as Float32Array;
      if (!g.every(Number.isFinite) || g.every((v) => v === 0)) bad.push(names[i]!);
    }
  } finally {
    tf.dispose(grads);
  }
  return bad;
}
