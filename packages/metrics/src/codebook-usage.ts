import { MetricsError } from './errors.js';

/** Dense counts up to this K (64 MiB of Uint32); a Map above it, where most codes stay unused. */
const DENSE_LIMIT = 2 ** 24;

/** Codebook usage of a set of token indices (`codebookStats`). */
export interface CodebookStats {
  /** K. */
  readonly codebookSize: number;
  /** Tokens counted N (all positions and all G token slots pooled). */
  readonly tokens: number;
  /** Distinct indices seen. */
  readonly used: number;
  /** used / K. */
  readonly usage: number;
  /** 1 − usage: the fraction of codes never hit. */
  readonly deadFraction: number;
  /** H = −Σ p_k log2 p_k with p_k = n_k / N and 0·log 0 = 0 (no 1e−5 inside the log). */
  readonly entropyBits: number;
  /** 2^H. */
  readonly perplexity: number;
}

function checkSize(fn: string, codebookSize: number): void {
  if (!Number.isSafeInteger(codebookSize) || codebookSize < 1) {
    throw new MetricsError('bad-option', `${fn}: codebookSize must be a positive safe integer, got ${codebookSize}`);
  }
}

/**
 * Streaming histogram of codebook indices. Feed batches with `add`, combine per-worker histograms
 * with `merge`; the statistics equal those of one pass over the concatenated indices.
 */
export class IndexHistogram {
  readonly codebookSize: number;
  private readonly dense: Uint32Array | null;
  private readonly sparse: Map<number, number> | null;
  private totalCount = 0;
  private usedCount = 0;

  constructor(codebookSize: number) {
    checkSize('IndexHistogram', codebookSize);
    this.codebookSize = codebookSize;
    this.dense = codebookSize <= DENSE_LIMIT ? new Uint32Array(codebookSize) : null;
    this.sparse = this.dense === null ? new Map() : null;
  }

  /** Counts every entry of `indices` (integers in [0, K)). Returns `this`. */
  add(indices: ArrayLike<number>): this {
    const size = this.codebookSize;
    for (let i = 0; i < indices.length; i++) {
      const index = indices[i]!;
      if (!(Number.isInteger(index) && index >= 0 && index < size)) {
        throw new MetricsError(
          'index-out-of-range',
          `IndexHistogram.add: indices must be integers in [0, ${size}), got ${index} at position ${i}`,
        );
      }
    }
    for (let i = 0; i < indices.length; i++) this.increment(indices[i]!, 1);
    return this;
  }

  /** Adds the counts of another histogram over the same K. Returns `this`. */
  merge(other: IndexHistogram): this {
    if (!(other instanceof IndexHistogram) || other.codebookSize !== this.codebookSize) {
      throw new MetricsError(
        'bad-option',
        `IndexHistogram.merge: other must be an IndexHistogram with codebookSize ${this.codebookSize}, got ${
          other instanceof IndexHistogram ? other.codebookSize : typeof other
        }`,
      );
    }
    other.forEachCount((index, count) => this.increment(index, count));
    return this;
  }

  /** Tokens counted so far. */
  get total(): number {
    return this.totalCount;
  }

  /** Distinct indices seen so far. */
  get used(): number {
    return this.usedCount;
  }

  /** Hits of one index. */
  count(index: number): number {
    if (this.dense !== null) return this.dense[index] ?? 0;
    return this.sparse!.get(index) ?? 0;
  }

  /** Calls `visit` for every index with a nonzero count, in increasing index order for dense K. */
  forEachCount(visit: (index: number, count: number) => void): void {
    if (this.dense !== null) {
      const dense = this.dense;
      for (let k = 0; k < dense.length; k++) if (dense[k] !== 0) visit(k, dense[k]!);
    } else {
      for (const [index, count] of this.sparse!) visit(index, count);
    }
  }

  stats(): CodebookStats {
    const total = this.totalCount;
    if (total === 0) {
      throw new MetricsError('empty', 'IndexHistogram.stats: at least one index must have been added, got 0');
    }
    let entropy = 0;
    this.forEachCount((_, count) => {
      const p = count / total;
      entropy -= p * Math.log2(p);
    });
    const usage = this.usedCount / this.codebookSize;
    return {
      codebookSize: this.codebookSize,
      tokens: total,
      used: this.usedCount,
      usage,
      deadFraction: 1 - usage,
      entropyBits: entropy,
      perplexity: 2 ** entropy,
    };
  }

  private increment(index: number, by: number): void {
    if (this.dense !== null) {
      const before = this.dense[index]!;
      if (before + by > 0xffffffff) {
        throw new MetricsError('count-overflow', `IndexHistogram.add: index ${index} would exceed 2^32 − 1 hits`);
      }
      if (before === 0) this.usedCount++;
      this.dense[index] = before + by;
    } else {
      const before = this.sparse!.get(index) ?? 0;
      if (before === 0) this.usedCount++;
      this.sparse!.set(index, before + by);
    }
    this.totalCount += by;
  }
}

/** Usage, entropy and perplexity of one array of indices (Int32Array [N] or any integer array). */
export function codebookStats(indices: ArrayLike<number>, codebookSize: number): CodebookStats {
  checkSize('codebookStats', codebookSize);
  return new IndexHistogram(codebookSize).add(indices).stats();
}

/** Fraction of the K codes that occur in `indices`. */
export function codebookUsage(indices: ArrayLike<number>, codebookSize: number): number {
  return codebookStats(indices, codebookSize).usage;
}

/** Entropy of the index histogram in bits. */
export function indexEntropy(indices: ArrayLike<number>, codebookSize: number): number {
  return codebookStats(indices, codebookSize).entropyBits;
}

/** 2^(entropy in bits) of the index histogram; K for perfectly uniform use. */
export function perplexity(indices: ArrayLike<number>, codebookSize: number): number {
  return codebookStats(indices, codebookSize).perplexity;
}
