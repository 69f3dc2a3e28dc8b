import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseSafetensors } from '@gq/safetensors';
import { readFixtureTensors, setupBackend } from '@gq/test-utils';
import { codebookFromValues, dequantize, gqQuantize, gqSearch, gqSearchCpu, type Codebook, type SearchPath } from '@gq/codebook';

/*
 * Reference-implementation fixtures (../shared/fixtures/gq-search, PyTorch, eval mode). Checks per
 * its README: exact index where the row is not a near-tie, an acceptable index otherwise, and zhat
 * equal to codebook[index] bit-exactly.
 */

type Entry = { data: ArrayLike<number>; shape: readonly number[] };
const search = readFixtureTensors(parseSafetensors, 'gq-search', 'search_K256_m4_N64.safetensors') as Map<string, Entry>;
const get = (map: Map<string, Entry>, name: string): Entry => {
  const entry = map.get(name);
  if (entry === undefined) throw new Error(`fixture tensor ${name} missing`);
  return entry;
};
const codebook: Codebook = codebookFromValues(get(search, 'codebook').data, 256, 4);

/**
 * Float64 score of codeword k for query q of the search fixture, written from the README's formula:
 * Σ_d [ln N(c_kd; μ_d, σ_d²) − β ln N(c_kd; 0, 1)], σ = exp(½ clamp(ℓ, −30, 20)).
 */
function searchScore(suffix: string, q: number, k: number): number {
  const beta = suffix === 'beta1' ? 1 : 0;
  const mu = get(search, 'mu').data;
  const logVar = get(search, 'logvar').data;
  const c = get(search, 'codebook').data;
  const halfLogTwoPi = 0.5 * Math.log(2 * Math.PI);
  let total = 0;
  for (let d = 0; d < 4; d++) {
    const l = Math.min(20, Math.max(-30, logVar[q * 4 + d]!));
    const x = c[k * 4 + d]!;
    const diff = x - mu[q * 4 + d]!;
    total += -halfLogTwoPi - 0.5 * l - (diff * diff) / (2 * Math.exp(l)) - beta * (-halfLogTwoPi - 0.5 * x * x);
  }
  return total;
}

/**
 * Acceptance per the fixture README for query `q` of a tie-annotated fixture: the reference index
 * where the row is not a near-tie; otherwise an index within `tie_tol` of the best float64 score (by
 * the listed acceptable indices, and by `score` where the fixture's queries are plain rows).
 */
function checkIndex(map: Map<string, Entry>, suffix: string, q: number, index: number, score?: (q: number, k: number) => number): void {
  const nearTie = get(map, `near_tie_${suffix}`).data[q];
  const reference = get(map, `indices_${suffix}`).data[q];
  if (nearTie === 0) {
    expect(index).toBe(reference);
    return;
  }
  const count = get(map, `n_acceptable_${suffix}`).data[q]!;
  if (score !== undefined) {
    const best = get(map, `best_score_f64_${suffix}`).data[q]!;
    const tol = get(map, `tie_tol_${suffix}`).data[q]!;
    expect(score(q, index), `row ${q}: score of index ${index}`).toBeGreaterThanOrEqual(best - tol);
  }
  if (count <= 16) {
    const list = Array.from(get(map, `acceptable_indices_${suffix}`).data).slice(q * 16, q * 16 + count);
    expect(list).toContain(index);
  } else if (score === undefined) {
    throw new Error(`row ${q} has ${count} acceptable indices: more than the fixture lists, and no score oracle was given`);
  }
}

beforeAll(async () => {
  await setupBackend('cpu');
});

describe('search_K256_m4_N64 (reference indices)', () => {
  const mu = new Float32Array(get(search, 'mu').data);
  const logVar = new Float32Array(get(search, 'logvar').data);
  it.each([
    ['beta1', 1],
    ['beta0', 0],
  ] as const)('gqSearchCpu and gqSearch reproduce indices_%s', async (suffix, beta) => {
    const cpu = gqSearchCpu(mu, logVar, codebook, { beta });
    const muTensor = tf.tensor2d(mu, [64, 4]);
    const logVarTensor = tf.tensor2d(logVar, [64, 4]);
    const tfResult = await gqSearch(muTensor, logVarTensor, codebook, { beta });
    const viaTf = await tfResult.data();
    tf.dispose([muTensor, logVarTensor, tfResult]);
    for (let q = 0; q < 64; q++) {
      checkIndex(search, suffix, q, cpu[q]!, (row, k) => searchScore(suffix, row, k));
      checkIndex(search, suffix, q, viaTf[q]!, (row, k) => searchScore(suffix, row, k));
    }
    // Row 4 is the K-way tie (μ = 0, ℓ = 0, β = 1): the inner-product form scores every codeword 0.
    if (beta === 1) expect([cpu[4], viaTf[4]]).toEqual([0, 0]);
  });

  it.each(['cpu', 'tfjs'] as const)('gqQuantize (path %s) on the [1, 64, 4] blc latent gives zhat bit-exactly', async (path: SearchPath) => {
    const muTensor = tf.tensor3d(mu, [1, 64, 4]);
    const logVarTensor = tf.tensor3d(logVar, [1, 64, 4]);
    for (const [suffix, beta] of [
      ['beta1', 1],
      ['beta0', 0],
    ] as const) {
      const { indices, zq } = await gqQuantize(muTensor, logVarTensor, codebook, { beta, path });
      expect(indices.shape).toEqual([1, 64, 1]);
      expect(indices.dtype).toBe('int32');
      const index = await indices.data();
      for (let q = 0; q < 64; q++) checkIndex(search, suffix, q, index[q]!, (row, k) => searchScore(suffix, row, k));
      // Where our index equals the reference one, zhat must be the reference's bits.
      const zhat = get(search, `zhat_${suffix}`).data;
      const ours = await zq.data();
      for (let q = 0; q < 64; q++) {
        const expected = Array.from(codebook.values.subarray(index[q]! * 4, index[q]! * 4 + 4));
        expect(Array.from(ours.subarray(q * 4, q * 4 + 4))).toEqual(expected);
        if (index[q] === get(search, `indices_${suffix}`).data[q]) expect(expected).toEqual(Array.from(zhat).slice(q * 4, q * 4 + 4));
      }
      tf.dispose([indices, zq]);
    }
    tf.dispose([muTensor, logVarTensor]);
  });
});

describe('layout fixtures (strided grouping, G = 2, m = 4)', () => {
  it.each(['cpu', 'tfjs'] as const)('layout_blc_K256_m4 via gqQuantize (path %s)', async (path: SearchPath) => {
    const fixture = readFixtureTensors(parseSafetensors, 'gq-search', 'layout_blc_K256_m4.safetensors') as Map<string, Entry>;
    const z = tf.tensor3d(new Float32Array(get(fixture, 'z').data), [2, 6, 16]);
    const [mu, logVar] = tf.split(z, 2, 2);
    for (const [suffix, beta] of [
      ['beta1', 1],
      ['beta0', 0],
    ] as const) {
      const { indices, zq } = await gqQuantize(mu!, logVar!, codebook, { beta, layout: 'strided', path });
      expect(indices.shape).toEqual([2, 6, 2]);
      const index = await indices.data();
      for (let q = 0; q < index.length; q++) checkIndex(fixture, suffix, q, index[q]!);
      expect(Array.from(await zq.data())).toEqual(Array.from(get(fixture, `zhat_${suffix}`).data));
      // dequantize(indices) is the same latent.
      const again = await dequantize(indices, codebook);
      expect(Array.from(await again.data())).toEqual(Array.from(await zq.data()));
      tf.dispose([indices, zq, again]);
    }
    tf.dispose([z, mu!, logVar!]);
  });

  it.each(['cpu', 'tfjs'] as const)('layout_bchw_K256_m4 (NCHW → NHWC) via gqQuantize (path %s)', async (path: SearchPath) => {
    const fixture = readFixtureTensors(parseSafetensors, 'gq-search', 'layout_bchw_K256_m4.safetensors') as Map<string, Entry>;
    // PyTorch NCHW [2, 16, 3, 4] → NHWC [2, 3, 4, 16]; μ is channels 0..7, log-variance 8..15.
    const z = tf.transpose(tf.tensor4d(new Float32Array(get(fixture, 'z').data), [2, 16, 3, 4]), [0, 2, 3, 1]);
    const [mu, logVar] = tf.split(z, 2, 3);
    for (const [suffix, beta] of [
      ['beta1', 1],
      ['beta0', 0],
    ] as const) {
      const { indices, zq } = await gqQuantize(mu!, logVar!, codebook, { beta, path });
      expect(indices.shape).toEqual([2, 3, 4, 2]);
      // Reference indices are [b, G, h, w]; ours are [b, h, w, G].
      const ours = tf.transpose(indices, [0, 3, 1, 2]);
      const index = await ours.data();
      for (let q = 0; q < index.length; q++) checkIndex(fixture, suffix, q, index[q]!);
      const zqNchw = tf.transpose(zq, [0, 3, 1, 2]);
      expect(Array.from(await zqNchw.data())).toEqual(Array.from(get(fixture, `zhat_${suffix}`).data));
      tf.dispose([indices, zq, ours, zqNchw]);
    }
    tf.dispose([z, mu!, logVar!]);
  });
});
