import * as tf from '@tensorflow/tfjs-core';
import { CoreError } from './errors.js';

/**
 * How the G·m channels of a latent position hold G tokens of m dimensions.
 * - `'strided'` (the reference implementation's): token g, dimension d sits in channel d·G + g.
 * - `'contiguous'`: token g, dimension d sits in channel g·m + d.
 * With G = 1 both are the same.
 */
export type LatentLayout = 'strided' | 'contiguous';

/** How to group a latent's channels into tokens: m and the layout. */
export interface TokenGrouping {
  /** m: dimensions per token. */
  readonly dim: number;
  /** Channel layout (default `'strided'`). */
  readonly layout?: LatentLayout;
}

/**
 * Tokens per position G = C / m for a latent with C = `channels` channels.
 * @param fn the calling function's name, used in the error message
 * @throws CoreError `bad-dim` when m is not a positive integer, `shape-mismatch` when m does not divide C
 */
export function tokensPerPosition(fn: string, channels: number, dim: number): number {
  if (!Number.isInteger(dim) || dim < 1) {
    throw new CoreError('bad-dim', `${fn}: dim must be a positive integer, got ${dim}`);
  }
  if (channels % dim !== 0) {
    throw new CoreError(
      'shape-mismatch',
      `${fn}: latent last dimension must be divisible by dim=${dim}, got ${channels}`,
    );
  }
  return channels / dim;
}

/** True when `value` is one of the two latent layouts, `'strided'` or `'contiguous'`. */
export function isLatentLayout(value: unknown): value is LatentLayout {
  return value === 'strided' || value === 'contiguous';
}

function checkLayout(fn: string, layout: string): void {
  if (!isLatentLayout(layout)) {
    throw new CoreError('bad-layout', `${fn}: layout must be 'strided' or 'contiguous', got ${JSON.stringify(layout)}`);
  }
}

/**
 * Latent `[..., G·m]` (NHWC `[B,h,w,C]` or `[B,L,C]`) → token rows `[N, m]`, N = (positions)·G,
 * ordered position-major then token g. Caller disposes the result.
 */
export function latentToTokens(latent: tf.Tensor, { dim, layout = 'strided' }: TokenGrouping): tf.Tensor2D {
  checkLayout('latentToTokens', layout);
  if (latent.rank < 2) {
    throw new CoreError('bad-rank', `latentToTokens: latent must have rank ≥ 2, got shape [${latent.shape.join(',')}]`);
  }
  const channels = latent.shape[latent.rank - 1]!;
  const groups = tokensPerPosition('latentToTokens', channels, dim);
  const positions = latent.size / channels;
  return tf.tidy(() => {
    if (layout === 'contiguous' || groups === 1) return tf.reshape(latent, [positions * groups, dim]);
    const split = tf.reshape(latent, [positions, dim, groups]);
    return tf.reshape(tf.transpose(split, [0, 2, 1]), [positions * groups, dim]);
  });
}

/** Inverse of `latentToTokens`: token rows `[N, m]` → latent of `latentShape` (last dim G·m). */
export function tokensToLatent(
  tokens: tf.Tensor,
  latentShape: readonly number[],
  { dim, layout = 'strided' }: TokenGrouping,
): tf.Tensor {
  checkLayout('tokensToLatent', layout);
  const channels = latentShape[latentShape.length - 1] ?? 0;
  const groups = tokensPerPosition('tokensToLatent', channels, dim);
  const positions = latentShape.reduce((a, b) => a * b, 1) / Math.max(channels, 1);
  if (tokens.rank !== 2 || tokens.shape[1] !== dim || tokens.shape[0] !== positions * groups) {
    throw new CoreError(
      'shape-mismatch',
      `tokensToLatent: tokens must have shape [${positions * groups}, ${dim}] for latent [${latentShape.join(',')}], got [${tokens.shape.join(',')}]`,
    );
  }
  return tf.tidy(() => {
    if (layout === 'contiguous' || groups === 1) return tf.reshape(tokens, [...latentShape]);
    const split = tf.reshape(tokens, [positions, groups, dim]);
    return tf.reshape(tf.transpose(split, [0, 2, 1]), [...latentShape]);
  });
}

/** Typed-array version of `latentToTokens` for the pure-TypeScript paths. */
export function latentRowsToTokens(
  latent: Float32Array,
  channels: number,
  { dim, layout = 'strided' }: TokenGrouping,
): Float32Array {
  checkLayout('latentRowsToTokens', layout);
  const groups = tokensPerPosition('latentRowsToTokens', channels, dim);
  if (latent.length % channels !== 0) {
    throw new CoreError('shape-mismatch', `latentRowsToTokens: length ${latent.length} is not a multiple of channels=${channels}`);
  }
  if (layout === 'contiguous' || groups === 1) return latent.slice();
  const out = new Float32Array(latent.length);
  const positions = latent.length / channels;
  for (let p = 0; p < positions; p++) {
    const base = p * channels;
    for (let g = 0; g < groups; g++) {
      for (let d = 0; d < dim; d++) out[base + g * dim + d] = latent[base + d * groups + g]!;
    }
  }
  return out;
}

/** Typed-array version of `tokensToLatent`. */
export function tokensToLatentRows(
  tokens: Float32Array,
  channels: number,
  { dim, layout = 'strided' }: TokenGrouping,
): Float32Array {
  checkLayout('tokensToLatentRows', layout);
  const groups = tokensPerPosition('tokensToLatentRows', channels, dim);
  if (tokens.length % channels !== 0) {
    throw new CoreError('shape-mismatch', `tokensToLatentRows: length ${tokens.length} is not a multiple of channels=${channels}`);
  }
  if (layout === 'contiguous' || groups === 1) return tokens.slice();
  const out = new Float32Array(tokens.length);
  const positions = tokens.length / channels;
  for (let p = 0; p < positions; p++) {
    const base = p * channels;
    for (let g = 0; g < groups; g++) {
      for (let d = 0; d < dim; d++) out[base + d * groups + g] = tokens[base + g * dim + d]!;
    }
  }
  return out;
}
