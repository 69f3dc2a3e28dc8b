import * as tf from '@tensorflow/tfjs-core';
import type { Codebook } from './codebook.js';
import { CodebookError } from './errors.js';
import { LOG_VAR_MAX, LOG_VAR_MIN } from '@gq/core';
import { resolveSelection, type SelectionOptions } from './query.js';

/** Default bound on the [rows, K] float32 score block of one chunk: 64 MiB (N = 256 at K = 2^16). */
export const DEFAULT_MEMORY_BUDGET_BYTES = 64 * 1024 * 1024;

/** Options of `gqSearch` (the tfjs path). */
export interface TfSearchOptions extends SelectionOptions {
  /** Bytes allowed for one chunk's [rows, K] float32 scores (default 64 MiB; at least one row). */
  readonly memoryBudgetBytes?: number;
}

interface DeviceTables {
  readonly backend: string;
  /** Φ = [c², c] stored pre-transposed [2m, K], so matMul never needs transposeB (slow on wasm). */
  readonly features: tf.Tensor2D;
  /** The codebook itself, [K, m], for dequantisation by gather. */
  readonly values: tf.Tensor2D;
}

const deviceCache = new WeakMap<Codebook, DeviceTables>();

/** The cached device tensors of a codebook on the current backend (created on first use). */
export function deviceTables(codebook: Codebook): DeviceTables {
  const backend = tf.getBackend();
  const hit = deviceCache.get(codebook);
  if (hit !== undefined && hit.backend === backend && !hit.features.isDisposed && !hit.values.isDisposed) return hit;
  if (hit !== undefined) releaseCodebookTensors(codebook);
  const { values, size, dim } = codebook;
  const transposed = new Float32Array(2 * dim * size);
  for (let j = 0; j < size; j++) {
    for (let d = 0; d < dim; d++) {
      const c = values[j * dim + d]!;
      transposed[d * size + j] = c * c;
      transposed[(dim + d) * size + j] = c;
    }
  }
  const tables: DeviceTables = {
    backend,
    features: tf.keep(tf.tensor2d(transposed, [2 * dim, size], 'float32')),
    values: tf.keep(tf.tensor2d(values, [size, dim], 'float32')),
  };
  deviceCache.set(codebook, tables);
  return tables;
}

/**
 * Disposes the device tensors that `gqSearch`, `gqQuantize` and `dequantize` cache per codebook
 * (2 tensors, 3·K·m float32). They are rebuilt on the next call.
 */
export function releaseCodebookTensors(codebook: Codebook): void {
  const hit = deviceCache.get(codebook);
  if (hit === undefined) return;
  hit.features.dispose();
  hit.values.dispose();
  deviceCache.delete(codebook);
}

/** Rows per chunk so that rows·K·4 bytes stays within the budget (at least 1). */
export function chunkRows(fn: string, size: number, budget: number): number {
  if (typeof budget !== 'number' || !Number.isFinite(budget) || budget <= 0) {
    throw new CodebookError('bad-budget', `${fn}: memoryBudgetBytes must be a positive finite number, got ${String(budget)}`);
  }
  return Math.max(1, Math.floor(budget / (size * 4)));
}

/**
 * Counts non-finite entries with tensor ops (only a scalar is read back), and reads the data to
 * locate the first one when there are any.
 */
export async function assertFiniteTensor(fn: string, name: string, x: tf.Tensor): Promise<void> {
  const countTensor = tf.tidy(() => tf.sum(tf.cast(tf.logicalNot(tf.isFinite(x)), 'int32')));
  let count: number;
  try {
    count = (await countTensor.data())[0]!;
  } finally {
    countTensor.dispose();
  }
  if (count === 0) return;
  const data = await x.data();
  const flat = data.findIndex((v) => !Number.isFinite(v));
  const index: number[] = [];
  let rest = flat;
  for (let axis = x.rank - 1; axis >= 0; axis--) {
    index.unshift(rest % x.shape[axis]!);
    rest = Math.floor(rest / x.shape[axis]!);
  }
  throw new CodebookError(
    'non-finite',
    `${fn}: ${name} must be finite, got ${count} NaN/±Infinity value(s); first ${data[flat]} at [${index.join(', ')}] of shape [${x.shape.join(',')}]`,
  );
}

/** Query weights A = [½(β − σ⁻²), μσ⁻²] as a [N, 2m] tensor (docs/algorithms.md §3.2). Caller disposes. */
function weightTensor(mu: tf.Tensor2D, logVar: tf.Tensor2D | null, beta: number, nearest: boolean): tf.Tensor2D {
  return tf.tidy(() => {
    if (nearest || logVar === null) {
      return tf.concat([tf.fill(mu.shape, 0.5 * (beta - 1)), mu], 1) as tf.Tensor2D;
    }
    const precision = tf.exp(tf.neg(tf.clipByValue(logVar, LOG_VAR_MIN, LOG_VAR_MAX)));
    const quadratic = tf.mul(tf.sub(tf.scalar(beta), precision), 0.5);
    return tf.concat([quadratic, tf.mul(mu, precision)], 1) as tf.Tensor2D;
  });
}

/**
 * Validated chunked search on tensors already known to be finite. Caller disposes the result.
 * @returns [N] int32
 */
export function searchTensors(
  mu: tf.Tensor2D,
  logVar: tf.Tensor2D | null,
  codebook: Codebook,
  beta: number,
  nearest: boolean,
  budget: number,
): tf.Tensor1D {
  const { features } = deviceTables(codebook);
  const rows = mu.shape[0];
  const step = chunkRows('gqSearch', codebook.size, budget);
  const weights = weightTensor(mu, logVar, beta, nearest);
  try {
    if (rows <= step) return tf.tidy(() => tf.argMax(tf.matMul(weights, features), 1) as tf.Tensor1D);
    const parts: tf.Tensor1D[] = [];
    try {
      for (let start = 0; start < rows; start += step) {
        const count = Math.min(step, rows - start);
        // Each chunk's [count, K] scores are freed before the next chunk is computed.
        parts.push(
          tf.tidy(() => tf.argMax(tf.matMul(tf.slice(weights, [start, 0], [count, -1]), features), 1) as tf.Tensor1D),
        );
      }
      return tf.concat(parts, 0);
    } finally {
      for (const part of parts) part.dispose();
    }
  } finally {
    weights.dispose();
  }
}

/**
 * GQ search with tfjs ops on any backend: chunked `matMul(A, Φ)` + `argMax`, Φ = [c², c] cached
 * pre-transposed per codebook. Scores are float32: where two codewords score within float32 rounding
 * the choice can differ from the exact float64 rule of `gqSearchCpu`.
 *
 * @param mu [N, m] float32 posterior means
 * @param logVar [N, m] float32 raw log-variances (clamped to [−30, 20]), or null for σ = 1
 * @returns [N] int32 indices; the caller disposes it
 * @throws CodebookError `shape-mismatch`, `empty`, `non-finite`, `bad-beta`, `bad-rule`, `bad-budget`
 */
export async function gqSearch(
  mu: tf.Tensor2D,
  logVar: tf.Tensor2D | null,
  codebook: Codebook,
  options: TfSearchOptions = {},
): Promise<tf.Tensor1D> {
  const fn = 'gqSearch';
  const selection = resolveSelection(fn, options);
  const budget = options.memoryBudgetBytes ?? DEFAULT_MEMORY_BUDGET_BYTES;
  chunkRows(fn, codebook.size, budget);
  if (mu.rank !== 2 || mu.shape[1] !== codebook.dim) {
    throw new CodebookError('shape-mismatch', `${fn}: mu must have shape [N, ${codebook.dim}], got [${mu.shape.join(',')}]`);
  }
  if (mu.dtype !== 'float32' || (logVar !== null && logVar.dtype !== 'float32')) {
    throw new CodebookError('bad-dtype', `${fn}: mu and logVar must be float32, got ${mu.dtype} and ${logVar?.dtype ?? 'null'}`);
  }
  if (mu.shape[0] === 0) throw new CodebookError('empty', `${fn}: mu must hold at least one token, got shape [${mu.shape.join(',')}]`);
  if (logVar !== null && (logVar.rank !== 2 || logVar.shape[0] !== mu.shape[0] || logVar.shape[1] !== mu.shape[1])) {
    throw new CodebookError(
      'shape-mismatch',
      `${fn}: logVar must have the shape of mu [${mu.shape.join(',')}], got [${logVar.shape.join(',')}]`,
    );
  }
  await assertFiniteTensor(fn, 'mu', mu);
  const nearest = selection.rule === 'nearest';
  if (logVar !== null && !nearest) await assertFiniteTensor(fn, 'logVar', logVar);
  return searchTensors(mu, nearest ? null : logVar, codebook, selection.beta, nearest, budget);
}
