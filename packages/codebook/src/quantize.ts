import * as tf from '@tensorflow/tfjs-core';
import type { Codebook } from './codebook.js';
import { isLatentLayout, latentRowsToTokens, latentToTokens, tokensPerPosition, tokensToLatent, tokensToLatentRows, type LatentLayout } from '@gq/core';
import { CodebookError } from './errors.js';
import { resolveSelection, type SelectionOptions } from './query.js';
import { gqSearchCpu } from './search-cpu.js';
import { assertFiniteTensor, chunkRows, DEFAULT_MEMORY_BUDGET_BYTES, deviceTables, searchTensors } from './search-tf.js';

/** Which search implementation `gqQuantize` uses; all return the same indices up to float32 near-ties. */
export type SearchPath = 'auto' | 'tfjs' | 'cpu';

/** Options of `gqQuantize`. */
export interface QuantizeOptions extends SelectionOptions {
  /** Channel grouping of the latent (default `'strided'`, the reference implementation's). */
  readonly layout?: LatentLayout;
  /**
   * `'tfjs'`: chunked float32 matMul + argMax on the current backend (an exact tie or a float32
   * near-tie may pick another codeword than the float64 rule). `'cpu'`: the exact search of
   * `gqSearchCpu` (float64 decisions; O(log K) for m = 1). `'auto'` (default): `'cpu'` when m = 1 or
   * the backend is tfjs's `cpu` or `wasm` (where it is also the faster path), else `'tfjs'` (a GPU).
   */
  readonly path?: SearchPath;
  /** Score-chunk memory bound of the tfjs path (default 64 MiB). */
  readonly memoryBudgetBytes?: number;
}

/** What `gqQuantize` returns; the caller disposes both tensors. */
export interface QuantizeResult {
  /** [B, h, w, G] or [B, L, G] int32 codeword indices. */
  readonly indices: tf.Tensor;
  /** Dequantised latent, the shape of mu, float32. */
  readonly zq: tf.Tensor;
}

/** The layout option, validated here so a bad one throws this package's error. */
export function resolveLayout(fn: string, layout: unknown = 'strided'): LatentLayout {
  if (!isLatentLayout(layout)) {
    throw new CodebookError('bad-layout', `${fn}: layout must be 'strided' or 'contiguous', got ${JSON.stringify(layout)}`);
  }
  return layout;
}

function checkLatent(fn: string, name: string, x: tf.Tensor): void {
  if (x.rank < 2 || x.rank > 4) {
    throw new CodebookError('bad-rank', `${fn}: ${name} must be [B, h, w, G·m] or [B, L, G·m], got shape [${x.shape.join(',')}]`);
  }
  if (x.dtype !== 'float32') throw new CodebookError('bad-dtype', `${fn}: ${name} must be float32, got ${x.dtype}`);
}

/**
 * GQ quantisation of a Gaussian-VAE latent (docs/algorithms.md §3): per token, the codeword maximising
 * Σ_d ln N(c_d; μ_d, σ_d²) − β ln N(c_d; 0, 1), and the dequantised latent.
 *
 * @param mu [B, h, w, G·m] or [B, L, G·m] float32 posterior means
 * @param logVar same shape, raw log-variances (clamped to [−30, 20] here); null means σ = 1
 * @returns indices [..., G] int32 and zq (mu's shape); the caller disposes both
 * @throws CodebookError `bad-rank`, `bad-dtype`, `shape-mismatch`, `empty`, `non-finite`, `bad-path`, …
 */
export async function gqQuantize(
  mu: tf.Tensor,
  logVar: tf.Tensor | null,
  codebook: Codebook,
  options: QuantizeOptions = {},
): Promise<QuantizeResult> {
  const fn = 'gqQuantize';
  const selection = resolveSelection(fn, options);
  const layout = resolveLayout(fn, options.layout);
  const budget = options.memoryBudgetBytes ?? DEFAULT_MEMORY_BUDGET_BYTES;
  chunkRows(fn, codebook.size, budget);
  checkLatent(fn, 'mu', mu);
  if (logVar !== null) {
    checkLatent(fn, 'logVar', logVar);
    if (!tf.util.arraysEqual(mu.shape, logVar.shape)) {
      throw new CodebookError('shape-mismatch', `${fn}: logVar must have the shape of mu [${mu.shape.join(',')}], got [${logVar.shape.join(',')}]`);
    }
  }
  if (mu.size === 0) throw new CodebookError('empty', `${fn}: mu must not be empty, got shape [${mu.shape.join(',')}]`);
  const channels = mu.shape[mu.rank - 1]!;
  if (channels % codebook.dim !== 0) {
    throw new CodebookError(
      'shape-mismatch',
      `${fn}: mu must have last dimension divisible by dim=${codebook.dim}, got shape [${mu.shape.join(',')}]`,
    );
  }
  const groups = tokensPerPosition(fn, channels, codebook.dim);
  const path = options.path ?? 'auto';
  if (path !== 'auto' && path !== 'tfjs' && path !== 'cpu') {
    throw new CodebookError('bad-path', `${fn}: path must be 'auto', 'tfjs' or 'cpu', got ${JSON.stringify(path)}`);
  }
  const nearest = selection.rule === 'nearest';
  const useCpu = path === 'cpu' || (path === 'auto' && (codebook.dim === 1 || tf.getBackend() === 'cpu' || tf.getBackend() === 'wasm'));
  const indexShape = [...mu.shape.slice(0, -1), groups];
  const grouping = { dim: codebook.dim, layout };

  if (useCpu) {
    const muData = (await mu.data()) as Float32Array;
    const logVarData = logVar !== null && !nearest ? ((await logVar.data()) as Float32Array) : null;
    const muTokens = latentRowsToTokens(muData, channels, grouping);
    const logVarTokens = logVarData !== null ? latentRowsToTokens(logVarData, channels, grouping) : null;
    let indices: Int32Array;
    try {
      indices = gqSearchCpu(muTokens, logVarTokens, codebook, { beta: selection.beta, rule: selection.rule });
    } catch (error) {
      // Re-locate non-finite values in latent coordinates rather than token rows.
      if (error instanceof CodebookError && error.code === 'non-finite') {
        await assertFiniteTensor(fn, 'mu', mu);
        if (logVar !== null) await assertFiniteTensor(fn, 'logVar', logVar);
      }
      throw error;
    }
    const zqRows = tokensToLatentRows(dequantizeRows(indices, codebook), channels, grouping);
    return { indices: tf.tensor(indices, indexShape, 'int32'), zq: tf.tensor(zqRows, mu.shape, 'float32') };
  }

  await assertFiniteTensor(fn, 'mu', mu);
  if (logVar !== null && !nearest) await assertFiniteTensor(fn, 'logVar', logVar);
  const muTokens = latentToTokens(mu, grouping);
  const logVarTokens = logVar !== null && !nearest ? latentToTokens(logVar, grouping) : null;
  let flat: tf.Tensor1D;
  try {
    flat = searchTensors(muTokens, logVarTokens, codebook, selection.beta, nearest, budget);
  } finally {
    muTokens.dispose();
    logVarTokens?.dispose();
  }
  const { values } = deviceTables(codebook);
  const result = tf.tidy(() => ({
    indices: tf.reshape(flat, indexShape),
    zq: tokensToLatent(tf.gather(values, flat), mu.shape, grouping),
  }));
  flat.dispose();
  return result;
}

function checkIndex(fn: string, index: number, position: number, size: number): void {
  if (!(index >= 0 && index < size) || !Number.isInteger(index)) {
    throw new CodebookError('index-out-of-range', `${fn}: indices must be integers in [0, K=${size}), got ${index} at position ${position}`);
  }
}

/**
 * Codewords of token indices: row i of the result is codebook row indices[i].
 * @param indices [N] integer indices in [0, K)
 * @returns Float32Array [N·m]
 * @throws CodebookError `index-out-of-range`
 */
export function dequantizeRows(indices: ArrayLike<number>, codebook: Codebook): Float32Array {
  const { values, size, dim } = codebook;
  const out = new Float32Array(indices.length * dim);
  for (let i = 0; i < indices.length; i++) {
    const index = indices[i]!;
    checkIndex('dequantizeRows', index, i, size);
    out.set(values.subarray(index * dim, index * dim + dim), i * dim);
  }
  return out;
}

/**
 * ẑ[..., ch(g, d)] = codebook[indices[..., g]·m + d] (docs/algorithms.md §3.6). Indices are read back
 * and validated, so an out-of-range index throws instead of producing zeros on GPU backends.
 *
 * @param indices [B, h, w, G] or [B, L, G] int32
 * @returns float32 [..., G·m]; the caller disposes it
 * @throws CodebookError `bad-dtype`, `bad-rank`, `index-out-of-range`, `bad-layout`
 */
export async function dequantize(
  indices: tf.Tensor,
  codebook: Codebook,
  options: { readonly layout?: LatentLayout } = {},
): Promise<tf.Tensor> {
  const fn = 'dequantize';
  if (indices.dtype !== 'int32') throw new CodebookError('bad-dtype', `${fn}: indices must be int32, got ${indices.dtype}`);
  if (indices.rank < 1) throw new CodebookError('bad-rank', `${fn}: indices must have rank ≥ 1 ([..., G]), got a scalar`);
  const layout = resolveLayout(fn, options.layout);
  const groups = indices.shape[indices.rank - 1]!;
  const data = await indices.data();
  for (let i = 0; i < data.length; i++) checkIndex(fn, data[i]!, i, codebook.size);
  const channels = groups * codebook.dim;
  const rows = dequantizeRows(data, codebook);
  const latent = channels === 0 ? rows : tokensToLatentRows(rows, channels, { dim: codebook.dim, layout });
  return tf.tensor(latent, [...indices.shape.slice(0, -1), channels], 'float32');
}
