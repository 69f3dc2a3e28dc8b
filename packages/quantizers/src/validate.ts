import * as tf from '@tensorflow/tfjs-core';
import { QuantizerError } from './errors.js';

export const shapeText = (shape: readonly number[]): string => `[${shape.join(',')}]`;

export function positiveInteger(fn: string, name: string, value: unknown, min = 1): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw new QuantizerError('bad-option', `${fn}: ${name} must be an integer ≥ ${min}, got ${String(value)}`);
  }
  return value;
}

export function finiteNumber(fn: string, name: string, value: unknown, positive: boolean): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || (positive ? value <= 0 : value < 0)) {
    throw new QuantizerError('bad-option', `${fn}: ${name} must be a finite number ${positive ? '> 0' : '≥ 0'}, got ${String(value)}`);
  }
  return value;
}

/** A float32 latent `[B, ..., C]` with the expected channel count. */
export function checkLatent(fn: string, z: unknown, channels: number): tf.Tensor {
  if (!(z instanceof tf.Tensor) || z.isDisposed) throw new QuantizerError('bad-tensor', `${fn}: z must be a live tf.Tensor`);
  if (z.dtype !== 'float32') throw new QuantizerError('bad-dtype', `${fn}: z must be float32, got ${z.dtype}`);
  if (z.rank < 2 || z.shape[z.rank - 1] !== channels) {
    throw new QuantizerError('bad-shape', `${fn}: z must have rank ≥ 2 and last dimension ${channels}, got shape ${shapeText(z.shape)}`);
  }
  if (z.size === 0) throw new QuantizerError('bad-shape', `${fn}: z must not be empty, got shape ${shapeText(z.shape)}`);
  return z;
}

/** An int32 index tensor `[B, ..., G]`. */
export function checkIndices(fn: string, indices: unknown, slots: number): tf.Tensor {
  if (!(indices instanceof tf.Tensor) || indices.isDisposed) {
    throw new QuantizerError('bad-tensor', `${fn}: indices must be a live tf.Tensor`);
  }
  if (indices.dtype !== 'int32') throw new QuantizerError('bad-dtype', `${fn}: indices must be int32, got ${indices.dtype}`);
  if (indices.rank < 1 || indices.shape[indices.rank - 1] !== slots) {
    throw new QuantizerError('bad-shape', `${fn}: indices must have last dimension ${slots}, got shape ${shapeText(indices.shape)}`);
  }
  return indices;
}

export const isTraining = (options: { readonly training?: boolean } | undefined): boolean => options?.training === true;
