import { CodebookError } from './errors.js';

/** Codebook usage of an index set (`usageStats`). */
export interface UsageStats {
  /** Number of indices counted. */
  readonly total: number;
  /** Distinct indices seen. */
  readonly used: number;
  /** used / K. */
  readonly usedFraction: number;
  /** Entropy of the index histogram in bits (0·log 0 = 0, no smoothing). */
  readonly entropyBits: number;
  /** 2^entropyBits. */
  readonly perplexity: number;
}

/** Histograms larger than this use a Map instead of a dense array (docs/algorithms.md §7). */
const DENSE_LIMIT = 2 ** 24;

/**
 * Codebook usage of an index set, pooling all positions and token slots.
 * @param indices integers in [0, K)
 * @throws CodebookError `bad-size`, `empty`, `index-out-of-range`
 */
export function usageStats(indices: ArrayLike<number>, size: number): UsageStats {
  const fn = 'usageStats';
  if (!Number.isInteger(size) || size < 1) throw new CodebookError('bad-size', `${fn}: K must be a positive integer, got ${size}`);
  const total = indices.length;
  if (total === 0) throw new CodebookError('empty', `${fn}: indices must not be empty`);
  const counts = new Map<number, number>();
  const dense = size <= DENSE_LIMIT ? new Uint32Array(size) : null;
  for (let i = 0; i < total; i++) {
    const index = indices[i]!;
    if (!Number.isInteger(index) || index < 0 || index >= size) {
      throw new CodebookError('index-out-of-range', `${fn}: indices must be integers in [0, K=${size}), got ${index} at position ${i}`);
    }
    if (dense !== null) dense[index]!++;
    else counts.set(index, (counts.get(index) ?? 0) + 1);
  }
  let used = 0;
  let entropy = 0;
  const add = (count: number): void => {
    used++;
    const p = count / total;
    entropy -= p * Math.log2(p);
  };
  if (dense !== null) {
    for (let k = 0; k < size; k++) if (dense[k]! > 0) add(dense[k]!);
  } else {
    for (const count of counts.values()) add(count);
  }
  const entropyBits = Math.max(entropy, 0);
  return { total, used, usedFraction: used / size, entropyBits, perplexity: 2 ** entropyBits };
}
