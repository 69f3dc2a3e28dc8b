import * as tf from '@tensorflow/tfjs-core';
import { isLatentLayout, type LatentLayout } from '@gq/core';
import { TdcError } from './errors.js';

const shapeText = (t: tf.Tensor): string => `[${t.shape.join(',')}]`;

/** Checks a positive integer option and returns it. */
export function positiveInteger(fn: string, name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new TdcError('bad-option', `${fn}: ${name} must be a positive integer, got ${String(value)}`);
  }
  return value;
}

/** Checks a finite number option (optionally > 0 or ≥ 0) and returns it. */
export function finiteNumber(fn: string, name: string, value: unknown, lower: 'positive' | 'nonNegative' | 'any'): number {
  const ok =
    typeof value === 'number' &&
    Number.isFinite(value) &&
    (lower === 'any' || (lower === 'positive' ? value > 0 : value >= 0));
  if (!ok) {
    const must = lower === 'positive' ? 'a finite number > 0' : lower === 'nonNegative' ? 'a finite number ≥ 0' : 'a finite number';
    throw new TdcError('bad-option', `${fn}: ${name} must be ${must}, got ${String(value)}`);
  }
  return value as number;
}

export function checkLayout(fn: string, layout: unknown): LatentLayout {
  if (!isLatentLayout(layout)) {
    throw new TdcError('bad-option', `${fn}: layout must be 'strided' or 'contiguous', got ${JSON.stringify(layout)}`);
  }
  return layout;
}

/**
 * Validates a (μ, log σ²) pair: same shape, float32, rank ≥ 2 with images on axis 0, last dimension
 * divisible by the token size m. Returns the number of images B and tokens per position G.
 */
export function checkLatentPair(
  fn: string,
  mu: unknown,
  logVar: unknown,
  group: number,
): { images: number; groups: number; tokens: number } {
  if (!(mu instanceof tf.Tensor)) throw new TdcError('bad-tensor', `${fn}: mu must be a tf.Tensor, got ${typeof mu}`);
  if (!(logVar instanceof tf.Tensor)) {
    throw new TdcError('bad-tensor', `${fn}: logVar must be a tf.Tensor, got ${typeof logVar}`);
  }
  if (mu.isDisposed || logVar.isDisposed) throw new TdcError('bad-tensor', `${fn}: mu and logVar must not be disposed`);
  if (mu.dtype !== 'float32' || logVar.dtype !== 'float32') {
    throw new TdcError('bad-dtype', `${fn}: mu and logVar must be float32, got ${mu.dtype} and ${logVar.dtype}`);
  }
  if (mu.rank < 2) {
    throw new TdcError('bad-shape', `${fn}: mu must have rank ≥ 2 ([B, h, w, C] or [B, L, C]), got shape ${shapeText(mu)}`);
  }
  if (!tf.util.arraysEqual(mu.shape, logVar.shape)) {
    throw new TdcError('shape-mismatch', `${fn}: mu and logVar must have the same shape, got ${shapeText(mu)} and ${shapeText(logVar)}`);
  }
  if (mu.size === 0) throw new TdcError('bad-shape', `${fn}: mu must not be empty, got shape ${shapeText(mu)}`);
  const channels = mu.shape[mu.rank - 1]!;
  if (channels % group !== 0) {
    throw new TdcError(
      'shape-mismatch',
      `${fn}: mu must have last dimension divisible by group=${group}, got shape ${shapeText(mu)}`,
    );
  }
  const groups = channels / group;
  return { images: mu.shape[0]!, groups, tokens: (mu.size / channels) * groups };
}
