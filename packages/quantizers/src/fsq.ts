import * as tf from '@tensorflow/tfjs-core';
import { constantOf, straightThrough, TensorStats, type QuantizeOptions, type QuantizeResult, type TrainableQuantizer } from '@gq/core';
import { QuantizerError } from './errors.js';
import { checkIndices, checkLatent, isTraining } from './validate.js';

/** Options of `fsq`. */
export interface FsqOptions {
  /** L_0..L_{C−1}: levels per channel (integers ≥ 2); C = levels.length. */
  readonly levels: readonly number[];
}

/** FSQ reports no statistics. */
export type FsqStats = Record<string, never>;

/** An FSQ quantiser (`fsq`). */
export interface Fsq extends TrainableQuantizer<FsqStats> {
  readonly levels: readonly number[];
  /** Consecutive level groups packed into one index each (one group unless Π L > 2^31). */
  readonly indexGroups: readonly (readonly number[])[];
}

/** ε in half = (L−1)(1+ε)/2: lets tanh reach the outer levels' rounding intervals. */
const EPSILON = 1e-3;
const SINGLE_INDEX_LIMIT = 2 ** 31;
const SUB_INDEX_LIMIT = 2 ** 16;

function groupLevels(levels: readonly number[]): number[][] {
  const total = levels.reduce((a, l) => a * l, 1);
  if (total <= SINGLE_INDEX_LIMIT) return [[...levels]];
  // Π L overflows int32 (e.g. [16]×8): split greedily into consecutive groups of ≤ 2^16 codes.
  const groups: number[][] = [];
  let current: number[] = [];
  let product = 1;
  for (const l of levels) {
    if (product * l > SUB_INDEX_LIMIT && current.length > 0) {
      groups.push(current);
      current = [];
      product = 1;
    }
    current.push(l);
    product *= l;
  }
  groups.push(current);
  return groups;
}

/**
 * Finite scalar quantisation (§6.2): b = tanh(z + shift)·half − offset, q = round-half-even(b),
 * output q / ⌊L/2⌋ (straight-through on b in training). Indices are mixed radix with the first
 * level most significant; no auxiliary loss.
 */
export function fsq(options: FsqOptions): Fsq {
  const levels = options?.levels;
  if (!Array.isArray(levels) || levels.length === 0) {
    throw new QuantizerError('bad-option', `fsq: levels must be a non-empty array of integers ≥ 2, got ${JSON.stringify(levels)}`);
  }
  levels.forEach((l, i) => {
    if (!Number.isInteger(l) || l < 2 || l > SUB_INDEX_LIMIT) {
      throw new QuantizerError('bad-option', `fsq: levels must be integers in [2, 65536], got levels[${i}] = ${String(l)}`);
    }
  });
  const channels = levels.length;
  const half = levels.map((l) => ((l - 1) * (1 + EPSILON)) / 2);
  const offset = levels.map((l) => (l % 2 === 0 ? 0.5 : 0));
  const shift = levels.map((_, i) => Math.atanh(offset[i]! / half[i]!));
  const halfWidth = levels.map((l) => Math.floor(l / 2));
  const groups = groupLevels(levels);
  const groupSizes = groups.map((g) => g.reduce((a, l) => a * l, 1));
  // Place value of each channel's digit inside its group (first level most significant).
  const placeValues: number[] = [];
  for (const group of groups) {
    for (let i = 0; i < group.length; i++) placeValues.push(group.slice(i + 1).reduce((a, l) => a * l, 1));
  }

  const toIndices = (q: tf.Tensor): tf.Tensor =>
    tf.tidy(() => {
      const digits = tf.cast(tf.add(q, tf.tensor1d(halfWidth)), 'int32');
      const weighted = tf.mul(digits, tf.tensor1d(placeValues, 'int32'));
      const lead = q.shape.slice(0, -1);
      const parts = groups.length === 1 ? [weighted] : tf.split(weighted, groups.map((g) => g.length), -1);
      const indices = parts.map((p) => tf.sum(p, -1, true));
      return indices.length === 1 ? tf.reshape(indices[0]!, [...lead, 1]) : tf.concat(indices, -1);
    });

  const bounded = (z: tf.Tensor): tf.Tensor =>
    tf.sub(tf.mul(tf.tanh(tf.add(z, tf.tensor1d(shift))), tf.tensor1d(half)), tf.tensor1d(offset));

  return {
    kind: 'fsq',
    channels,
    levels: [...levels],
    indexGroups: groups,
    tokensPerPosition: groups.length,
    codebookSize: Math.max(...groupSizes),
    bitsPerPosition: levels.reduce((a, l) => a + Math.log2(l), 0),

    quantize(z: tf.Tensor, options?: QuantizeOptions): QuantizeResult<FsqStats> {
      checkLatent('fsq.quantize', z, channels);
      const training = isTraining(options);
      const { zq, indices } = tf.tidy(() => {
        const b = bounded(z);
        // Adding 0 turns round's −0 into +0, so codes are bit-identical to dequantize().
        const roundCode = (v: tf.Tensor): tf.Tensor => tf.add(tf.round(v), tf.scalar(0));
        const q = training ? straightThrough(b, roundCode) : constantOf(b, roundCode);
        return { zq: tf.div(q, tf.tensor1d(halfWidth)), indices: toIndices(tf.round(b)) };
      });
      return { zq, indices, auxLoss: tf.scalar(0), stats: new TensorStats<FsqStats>({}, () => ({})) };
    },

    dequantize(indices: tf.Tensor): tf.Tensor {
      checkIndices('fsq.dequantize', indices, groups.length);
      return tf.tidy(() => {
        const lead = indices.shape.slice(0, -1);
        const slots = groups.length === 1 ? [indices] : tf.split(indices, groups.length, -1);
        const digits: tf.Tensor[] = [];
        slots.forEach((slot, g) => {
          for (let i = 0; i < groups[g]!.length; i++) {
            const channel = groups.slice(0, g).reduce((a, grp) => a + grp.length, 0) + i;
            const place = tf.scalar(placeValues[channel]!, 'int32');
            digits.push(tf.mod(tf.floorDiv(slot, place), tf.scalar(levels[channel]!, 'int32')));
          }
        });
        const q = tf.sub(tf.cast(tf.concat(digits, -1), 'float32'), tf.tensor1d(halfWidth));
        return tf.reshape(tf.div(q, tf.tensor1d(halfWidth)), [...lead, channels]);
      });
    },

    dispose(): void {},
  };
}
