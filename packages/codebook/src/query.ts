import { LOG_VAR_MAX, LOG_VAR_MIN } from '@gq/core';
import { CodebookError } from './errors.js';

/** Selection rule: `'gq'` (β and σ as given) or `'nearest'` (β = 0, σ := 1: Euclidean nearest neighbour). */
export type SelectionRule = 'gq' | 'nearest';

/** How a codeword is selected: the GQ rule with prior weight β, or plain nearest neighbour. */
export interface SelectionOptions {
  /** Prior weight β (the paper's ω), finite, default 1. Ignored by `rule: 'nearest'`. */
  readonly beta?: number;
  /** Default `'gq'`. */
  readonly rule?: SelectionRule;
}

export interface ResolvedSelection {
  readonly beta: number;
  readonly rule: SelectionRule;
}

export function resolveSelection(fn: string, options: SelectionOptions): ResolvedSelection {
  const rule = options.rule ?? 'gq';
  if (rule !== 'gq' && rule !== 'nearest') {
    throw new CodebookError('bad-rule', `${fn}: rule must be 'gq' or 'nearest', got ${JSON.stringify(rule)}`);
  }
  const beta = options.beta ?? 1;
  if (typeof beta !== 'number' || !Number.isFinite(beta)) {
    throw new CodebookError('bad-beta', `${fn}: beta must be a finite number, got ${String(beta)}`);
  }
  return rule === 'nearest' ? { beta: 0, rule } : { beta, rule };
}

/**
 * Writes the query weights a = [½(β − σ⁻²), μσ⁻²] of docs/algorithms.md §3.2 for one token, in float64,
 * into `target[offset + d·stride]` (quadratic part) and `target[offset + (m + d)·stride]` (linear part).
 */
export function queryWeights(
  mu: ArrayLike<number>,
  logVar: ArrayLike<number> | null,
  rowOffset: number,
  dim: number,
  selection: ResolvedSelection,
  target: Float64Array,
  offset: number,
  stride: number,
): void {
  for (let d = 0; d < dim; d++) {
    const mean = mu[rowOffset + d]!;
    let precision = 1;
    if (selection.rule === 'gq' && logVar !== null) {
      const raw = logVar[rowOffset + d]!;
      const clamped = raw < LOG_VAR_MIN ? LOG_VAR_MIN : raw > LOG_VAR_MAX ? LOG_VAR_MAX : raw;
      precision = Math.exp(-clamped);
    }
    target[offset + d * stride] = 0.5 * (selection.beta - precision);
    target[offset + (dim + d) * stride] = mean * precision;
  }
}

/** Throws `non-finite` naming the count and the first offending row and column. */
export function assertFiniteRows(
  fn: string,
  name: string,
  values: ArrayLike<number>,
  start: number,
  end: number,
  width: number,
): void {
  let count = 0;
  let first = -1;
  for (let i = start; i < end; i++) {
    if (!Number.isFinite(values[i]!)) {
      if (first < 0) first = i;
      count++;
    }
  }
  if (count > 0) {
    throw new CodebookError(
      'non-finite',
      `${fn}: ${name} must be finite, got ${count} NaN/±Infinity value(s); first ${values[first]} at row ${Math.floor(first / width)}, column ${first % width}`,
    );
  }
}
