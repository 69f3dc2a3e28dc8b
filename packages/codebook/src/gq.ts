import * as tf from '@tensorflow/tfjs-core';
import { TensorStats, type LatentLayout, type QuantizeOptions, type QuantizeResult, type Quantizer } from '@gq/core';
import type { Codebook } from './codebook.js';
import { CodebookError } from './errors.js';
import { dequantize, gqQuantize, resolveLayout, type QuantizeOptions as GqQuantizeOptions, type SearchPath } from './quantize.js';
import { resolveSelection } from './query.js';
import { releaseCodebookTensors } from './search-tf.js';
import { usageStats, type UsageStats } from './usage.js';

/** Options of `gq`. */
export interface GqOptions {
  /** The K×m Gaussian codebook (`createCodebook` or `codebookFromValues`). */
  readonly codebook: Codebook;
  /** C = G·m: latent channels per position; a multiple of the codebook's m. */
  readonly channels: number;
  /** Prior weight β (the paper's ω), finite (default 1). */
  readonly beta?: number;
  /** Channel grouping of the latent (default `'strided'`, the reference implementation's). */
  readonly layout?: LatentLayout;
  /** Search implementation, as `gqQuantize`'s `path` (default `'auto'`). */
  readonly path?: SearchPath;
  /** Score-chunk memory bound of the tfjs path, as `gqQuantize`'s (default 64 MiB). */
  readonly memoryBudgetBytes?: number;
}

/** Statistics of one `gq(...).quantize` call: codebook usage of its indices (all positions and slots). */
export type GqStats = UsageStats;

/** GQ as a `Quantizer`: what `gq` returns. `quantize` and `dequantize` are asynchronous. */
export interface Gq extends Quantizer<GqStats> {
  readonly kind: 'gq';
  /** The codebook the indices refer to. */
  readonly codebook: Codebook;
  /** m: dimensions per token. */
  readonly dim: number;
  /** β used by every call. */
  readonly beta: number;
  /** Channel grouping of the latent. */
  readonly layout: LatentLayout;
  /**
   * GQ-quantises the posterior mean `mu` with `options.logVar` (σ = 1 when absent), exactly as
   * `gqQuantize(mu, logVar, codebook, {beta, layout})`. `auxLoss` is a scalar 0.
   *
   * @param mu `[B, ..., C]` float32 posterior mean
   * @throws CodebookError `bad-option` for `training: true` (GQ has no training mode), `bad-tensor`,
   *   `shape-mismatch`, and every error of `gqQuantize`
   */
  quantize(mu: tf.Tensor, options?: QuantizeOptions): Promise<QuantizeResult<GqStats>>;
  /**
   * Codebook rows of the indices, in the layout: the `zq` that `quantize` returned for them.
   * @param indices `[B, ..., G]` int32 in [0, K)
   * @returns `[B, ..., C]` float32; the caller disposes it
   * @throws CodebookError `bad-tensor`, `bad-dtype`, `shape-mismatch`, `index-out-of-range`
   */
  dequantize(indices: tf.Tensor): Promise<tf.Tensor>;
}

const shapeText = (t: tf.Tensor): string => `[${t.shape.join(',')}]`;

function liveTensor(fn: string, name: string, value: unknown): tf.Tensor {
  if (!(value instanceof tf.Tensor) || value.isDisposed) {
    throw new CodebookError('bad-tensor', `${fn}: ${name} must be a live tf.Tensor, got ${value instanceof tf.Tensor ? 'a disposed tensor' : typeof value}`);
  }
  return value;
}

/**
 * Gaussian Quant as a `Quantizer`, with the same interface as the baselines of `@gq/quantizers`:
 * G = C / m tokens per position, K = `codebook.size` codes per token, G·log2 K bits per position.
 * GQ converts a trained Gaussian VAE into a tokenizer without training, so `training: true` is
 * refused; `dispose()` releases the codebook's cached device tensors (rebuilt by a later call).
 *
 * @throws CodebookError `bad-option` for a bad codebook, `channels` or `beta`, `bad-layout`
 */
export function gq(options: GqOptions): Gq {
  const fn = 'gq';
  const codebook = options?.codebook;
  if (
    codebook === null ||
    typeof codebook !== 'object' ||
    !(codebook.values instanceof Float32Array) ||
    !Number.isInteger(codebook.size) ||
    !Number.isInteger(codebook.dim) ||
    codebook.values.length !== codebook.size * codebook.dim
  ) {
    throw new CodebookError('bad-option', `${fn}: codebook must be a Codebook (createCodebook or codebookFromValues), got ${typeof codebook}`);
  }
  const { channels } = options;
  if (typeof channels !== 'number' || !Number.isInteger(channels) || channels < 1 || channels % codebook.dim !== 0) {
    throw new CodebookError('bad-option', `${fn}: channels must be a positive multiple of the codebook's dim=${codebook.dim}, got ${String(channels)}`);
  }
  const { beta } = resolveSelection(fn, { beta: options.beta ?? 1 });
  const layout = resolveLayout(fn, options.layout);
  const groups = channels / codebook.dim;
  const search: GqQuantizeOptions = {
    beta,
    layout,
    ...(options.path !== undefined ? { path: options.path } : {}),
    ...(options.memoryBudgetBytes !== undefined ? { memoryBudgetBytes: options.memoryBudgetBytes } : {}),
  };

  return {
    kind: 'gq',
    codebook,
    dim: codebook.dim,
    beta,
    layout,
    channels,
    tokensPerPosition: groups,
    codebookSize: codebook.size,
    bitsPerPosition: groups * Math.log2(codebook.size),

    async quantize(mu: tf.Tensor, quantizeOptions?: QuantizeOptions): Promise<QuantizeResult<GqStats>> {
      const name = 'gq.quantize';
      if (quantizeOptions?.training === true) {
        throw new CodebookError(
          'bad-option',
          `${name}: training must be false: GQ quantises the latent of a trained Gaussian VAE and has no training mode (train the VAE with TDC), got true`,
        );
      }
      liveTensor(name, 'mu', mu);
      if (mu.rank < 2 || mu.shape[mu.rank - 1] !== channels) {
        throw new CodebookError('shape-mismatch', `${name}: mu must have rank ≥ 2 and last dimension C=${channels}, got shape ${shapeText(mu)}`);
      }
      const logVar = quantizeOptions?.logVar === undefined ? null : liveTensor(name, 'logVar', quantizeOptions.logVar);
      const { indices, zq } = await gqQuantize(mu, logVar, codebook, search);
      const size = codebook.size;
      return {
        zq,
        indices,
        auxLoss: tf.scalar(0),
        // The handle owns (and frees) its own copy, so reading the stats leaves `indices` alive.
        stats: new TensorStats<GqStats>({ indices: tf.clone(indices) }, (values) => usageStats(values['indices']!, size)),
      };
    },

    async dequantize(indices: tf.Tensor): Promise<tf.Tensor> {
      const name = 'gq.dequantize';
      liveTensor(name, 'indices', indices);
      if (indices.rank < 1 || indices.shape[indices.rank - 1] !== groups) {
        throw new CodebookError('shape-mismatch', `${name}: indices must have last dimension G=${groups}, got shape ${shapeText(indices)}`);
      }
      return dequantize(indices, codebook, { layout });
    },

    dispose(): void {
      releaseCodebookTensors(codebook);
    },
  };
}
