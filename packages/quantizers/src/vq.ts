import * as tf from '@tensorflow/tfjs-core';
import {
  constantOf,
  isLatentLayout,
  latentToTokens,
  seededUniform,
  stopGradient,
  straightThrough,
  TensorStats,
  tokensToLatent,
  type LatentLayout,
  type QuantizeOptions,
  type QuantizeResult,
  type TrainableQuantizer,
} from '@gq/core';
import { QuantizerError } from './errors.js';
import { checkIndices, checkLatent, finiteNumber, isTraining, positiveInteger } from './validate.js';

/** Options of `vq`. */
export interface VqOptions {
  /** K: learned codewords. */
  readonly codebookSize: number;
  /** m: dimensions per token (codeword dimension). */
  readonly dim: number;
  /** C = G·m latent channels. */
  readonly channels: number;
  /** Channel → token layout (default `'strided'`, as the reference). */
  readonly layout?: LatentLayout;
  /** Seed of the uniform(−1/K, 1/K) initialisation and of dead-code restarts. */
  readonly seed: number;
  /** K·m row-major initial codebook instead of the random initialisation. */
  readonly initialCodebook?: ArrayLike<number>;
  /** Weight on mean((z − sg(z_q))²) (default 1.0, the reference's). */
  readonly commitmentWeight?: number;
  /** Weight on mean((sg(z) − z_q)²) (default 0.25, the reference's; dropped with EMA). */
  readonly codebookWeight?: number;
  /** EMA codebook updates in training (decay 0.99, Laplace ε = 1e-5 by default). */
  readonly ema?: boolean | { readonly decay?: number; readonly epsilon?: number };
  /** Normalise tokens and codewords to unit length before selection; output the normalised codeword. */
  readonly l2norm?: boolean;
  /** Every `every` training calls, codes unused in that window are replaced by random current tokens. */
  readonly deadCodeRestart?: { readonly every: number };
}

/** Statistics of one `vq(...).quantize` call. */
export interface VqStats {
  /** Hits per code in this call. */
  readonly counts: number[];
  readonly usedCodes: number;
  /** Fraction of codes with zero hits in this call. */
  readonly unusedFraction: number;
  /** 2^H of this call's index histogram (H in bits, 0·log 0 = 0). */
  readonly perplexity: number;
  /** Unweighted mean((z − sg(z_q))²). */
  readonly commitment: number;
  /** Unweighted mean((sg(z) − z_q)²). */
  readonly codebookLoss: number;
  /** Codes replaced by a dead-code restart during this call (0 when none ran). */
  readonly restartedCodes: number;
}

/** A VQ quantiser (`vq`): a trainable quantiser with a learned codebook. */
export interface Vq extends TrainableQuantizer<VqStats> {
  readonly dim: number;
  readonly layout: LatentLayout;
  /** `[K, m]` float32 codebook (trainable unless EMA is on). */
  readonly codebook: tf.Variable;
  /** The variables an optimiser should update (`[codebook]`, or `[]` with EMA). */
  readonly trainableVariables: tf.Variable[];
}

const normalizeRows = (x: tf.Tensor): tf.Tensor =>
  tf.div(x, tf.maximum(tf.norm(x, 'euclidean', -1, true), tf.scalar(1e-12)));

/** Rows per chunk so that a chunk's N×K float32 matrix stays within 64 MiB. */
const CHUNK_ELEMENTS = 1 << 24;
const chunkRows = (size: number): number => Math.max(1, Math.floor(CHUNK_ELEMENTS / size));

/**
 * argmin_j ‖t − e_j‖² as argMax of 2⟨t, e_j⟩ − ‖e_j‖² (‖t‖² is constant per row), chunked over
 * rows; the codebook is transposed once so the matMul takes the fast path on wasm.
 * Returns `[N]` int32; the first maximum (lowest index) wins ties on the CPU backend.
 */
function nearestCodes(tokens: tf.Tensor, codes: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const [rows, dim] = tokens.shape as [number, number];
    const size = codes.shape[0]!;
    const transposed = tf.transpose(codes);
    const norms = tf.sum(tf.square(codes), 1);
    const step = chunkRows(size);
    const parts: tf.Tensor[] = [];
    for (let start = 0; start < rows; start += step) {
      const count = Math.min(step, rows - start);
      parts.push(
        tf.tidy(() => {
          const chunk = tf.slice(tokens, [start, 0], [count, dim]);
          return tf.argMax(tf.sub(tf.mul(tf.matMul(chunk, transposed), 2), norms), 1);
        }),
      );
    }
    return parts.length === 1 ? parts[0]! : tf.concat(parts);
  });
}

/** Σ over rows assigned to code j of `values` → `[K, m]`, by chunked one-hot matMuls (no scatter kernel needed). */
function sumByCode(values: tf.Tensor, index: tf.Tensor, size: number): tf.Tensor {
  return tf.tidy(() => {
    const [rows, dim] = values.shape as [number, number];
    const step = chunkRows(size);
    let total: tf.Tensor = tf.zeros([size, dim]);
    for (let start = 0; start < rows; start += step) {
      const count = Math.min(step, rows - start);
      const next = tf.tidy(() => {
        // tfjs-backend-wasm 4.22's OneHot writes int32 bits into a float32 output (1 becomes
        // 1.4e-45), so build it as int32 and cast.
        const oneHot = tf.cast(tf.oneHot(tf.slice(index, [start], [count]), size), 'float32');
        return tf.add(total, tf.matMul(oneHot, tf.slice(values, [start, 0], [count, dim]), true, false));
      });
      total.dispose();
      total = next;
    }
    return total;
  });
}

/**
 * Codebook rows `codes[index]` whose gradient with respect to the codebook is computed with
 * `sumByCode` (gather's own gradient needs UnsortedSegmentSum, which wasm does not register).
 */
function lookupRows(codes: tf.Tensor, index: tf.Tensor): tf.Tensor {
  const size = codes.shape[0]!;
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [table, save] = args as [tf.Tensor, tf.GradSaveFunc];
    // The index must travel through save(): a gradient tape frees the forward pass's tensors
    // (this index among them) before the backward pass runs.
    save([index]);
    return {
      value: tf.gather(table, index),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => sumByCode(dy, saved[0]!, size),
    };
  });
  return op(codes);
}

/**
 * VQGAN-style vector quantiser (§6.1): one learned K×m codebook shared by the G token slots,
 * nearest codeword by ‖e‖² − 2⟨z, e⟩ (argMax of the negative, lowest index on ties), codebook and
 * commitment losses, straight-through output in training.
 */
export function vq(options: VqOptions): Vq {
  const fn = 'vq';
  const size = positiveInteger(fn, 'codebookSize', options?.codebookSize, 2);
  const dim = positiveInteger(fn, 'dim', options.dim);
  const channels = positiveInteger(fn, 'channels', options.channels);
  if (channels % dim !== 0) {
    throw new QuantizerError('bad-option', `${fn}: channels must be divisible by dim=${dim}, got ${channels}`);
  }
  const layout = options.layout ?? 'strided';
  if (!isLatentLayout(layout)) {
    throw new QuantizerError('bad-option', `${fn}: layout must be 'strided' or 'contiguous', got ${JSON.stringify(layout)}`);
  }
  const seed = options.seed;
  if (typeof seed !== 'number' || !Number.isInteger(seed)) {
    throw new QuantizerError('bad-option', `${fn}: seed must be an integer (randomness is explicit), got ${String(seed)}`);
  }
  const commitmentWeight = finiteNumber(fn, 'commitmentWeight', options.commitmentWeight ?? 1, false);
  const codebookWeight = finiteNumber(fn, 'codebookWeight', options.codebookWeight ?? 0.25, false);
  const emaOptions = options.ema === true ? {} : options.ema || null;
  const decay = emaOptions ? finiteNumber(fn, 'ema.decay', emaOptions.decay ?? 0.99, true) : 0;
  const epsilon = emaOptions ? finiteNumber(fn, 'ema.epsilon', emaOptions.epsilon ?? 1e-5, true) : 0;
  if (emaOptions && decay >= 1) throw new QuantizerError('bad-option', `${fn}: ema.decay must be < 1, got ${decay}`);
  const l2norm = options.l2norm ?? false;
  const restartEvery = options.deadCodeRestart ? positiveInteger(fn, 'deadCodeRestart.every', options.deadCodeRestart.every) : 0;
  const groups = channels / dim;

  let initial: Float32Array;
  if (options.initialCodebook !== undefined) {
    if (options.initialCodebook.length !== size * dim) {
      throw new QuantizerError('bad-option', `${fn}: initialCodebook must hold K·m = ${size * dim} values, got ${options.initialCodebook.length}`);
    }
    initial = Float32Array.from(options.initialCodebook);
  } else {
    const uniform = seededUniform(seed);
    initial = Float32Array.from({ length: size * dim }, () => (2 * uniform() - 1) / size);
  }
  const codebook = tf.tidy(() => tf.variable(tf.tensor2d(initial, [size, dim]), !emaOptions));
  // EMA state starts at "one hit per code, at its own position", so unused codes keep their value
  // instead of being divided by a Laplace-smoothed count of ~0.
  const clusterSize = emaOptions ? tf.tidy(() => tf.variable(tf.ones([size]), false)) : null;
  const embedSum = emaOptions ? tf.tidy(() => tf.variable(tf.tensor2d(initial, [size, dim]), false)) : null;
  const usage = restartEvery > 0 ? tf.tidy(() => tf.variable(tf.zeros([size]), false)) : null;
  let trainingCalls = 0;
  let restarts = 0;

  const outputCodebook = (): tf.Tensor => (l2norm ? normalizeRows(codebook) : codebook);

  function applyEma(selected: tf.Tensor, index: tf.Tensor, counts: tf.Tensor): void {
    tf.tidy(() => {
      const sums = sumByCode(selected, index, size);
      const nextCluster = tf.add(tf.mul(clusterSize!, decay), tf.mul(counts, 1 - decay));
      const nextSum = tf.add(tf.mul(embedSum!, decay), tf.mul(sums, 1 - decay));
      const total = tf.sum(nextCluster);
      const smoothed = tf.mul(tf.div(tf.add(nextCluster, epsilon), tf.add(total, size * epsilon)), total);
      clusterSize!.assign(nextCluster);
      embedSum!.assign(nextSum as tf.Tensor2D);
      codebook.assign(tf.div(nextSum, tf.expandDims(smoothed, 1)) as tf.Tensor2D);
    });
  }

  function restartDeadCodes(selected: tf.Tensor, counts: tf.Tensor): tf.Scalar {
    return tf.tidy(() => {
      usage!.assign(tf.add(usage!, counts));
      trainingCalls++;
      if (trainingCalls % restartEvery !== 0) return tf.scalar(0);
      restarts++;
      const uniform = seededUniform((seed ^ Math.imul(restarts, 0x9e3779b1)) >>> 0);
      const rows = selected.shape[0]!;
      const picks = tf.tensor1d(Array.from({ length: size }, () => Math.floor(uniform() * rows)), 'int32');
      const replacement = tf.gather(selected, picks);
      const dead = tf.equal(usage!, 0);
      const deadRows = tf.expandDims(dead, 1);
      codebook.assign(tf.where(deadRows, replacement, codebook) as tf.Tensor2D);
      if (embedSum && clusterSize) {
        embedSum.assign(tf.where(deadRows, replacement, embedSum) as tf.Tensor2D);
        clusterSize.assign(tf.where(dead, tf.onesLike(clusterSize), clusterSize));
      }
      usage!.assign(tf.zerosLike(usage!));
      return tf.sum(tf.cast(dead, 'float32')) as tf.Scalar;
    });
  }

  return {
    kind: 'vq',
    channels,
    dim,
    layout,
    codebook,
    trainableVariables: emaOptions ? [] : [codebook],
    tokensPerPosition: groups,
    codebookSize: size,
    bitsPerPosition: groups * Math.log2(size),

    quantize(z: tf.Tensor, options?: QuantizeOptions): QuantizeResult<VqStats> {
      checkLatent('vq.quantize', z, channels);
      if (codebook.isDisposed) throw new QuantizerError('disposed', 'vq.quantize: this quantizer was disposed');
      const training = isTraining(options);
      const out = tf.tidy(() => {
        const tokens = latentToTokens(z, { dim, layout });
        const selected = l2norm ? normalizeRows(tokens) : tokens;
        const codes = outputCodebook();
        const index = constantOf(selected, (s) => nearestCodes(s, codes));
        // Only the learned (non-EMA) codebook in training needs d z_q / d E; otherwise the lookup
        // stays off the tape.
        const quantizedTokens =
          training && !emaOptions ? lookupRows(codes, index) : constantOf(selected, () => tf.gather(codes, index));
        const commitment = tf.mean(tf.square(tf.sub(selected, stopGradient(quantizedTokens))));
        const codebookLoss = tf.mean(tf.square(tf.sub(stopGradient(selected), quantizedTokens)));
        const auxLoss = training
          ? (tf.add(tf.mul(commitment, commitmentWeight), tf.mul(codebookLoss, emaOptions ? 0 : codebookWeight)) as tf.Scalar)
          : tf.scalar(0);
        const outputTokens = training ? straightThrough(selected, () => tf.clone(quantizedTokens)) : quantizedTokens;
        const zq = tokensToLatent(outputTokens, z.shape, { dim, layout });
        const indices = tf.reshape(tf.cast(index, 'int32'), [...z.shape.slice(0, -1), groups]);
        const counts = constantOf(selected, () => tf.bincount(index as tf.Tensor1D, tf.tensor1d([], 'float32'), size));
        let restarted: tf.Tensor = tf.scalar(0);
        if (training) {
          const values = constantOf(selected, (s) => tf.clone(s));
          if (emaOptions) applyEma(values, index, counts);
          if (usage) restarted = restartDeadCodes(values, counts);
        }
        return { zq, indices, auxLoss, counts, commitment, codebookLoss, restarted };
      });
      const stats = new TensorStats<VqStats>(
        { counts: out.counts, commitment: out.commitment, codebookLoss: out.codebookLoss, restarted: out.restarted },
        (v) => {
          const counts = Array.from(v['counts']!);
          const total = counts.reduce((a, c) => a + c, 0);
          let entropy = 0;
          for (const c of counts) if (c > 0) entropy -= (c / total) * Math.log2(c / total);
          const usedCodes = counts.filter((c) => c > 0).length;
          return {
            counts,
            usedCodes,
            unusedFraction: 1 - usedCodes / size,
            perplexity: 2 ** entropy,
            commitment: v['commitment']![0]!,
            codebookLoss: v['codebookLoss']![0]!,
            restartedCodes: v['restarted']![0]!,
          };
        },
      );
      return { zq: out.zq, indices: out.indices, auxLoss: out.auxLoss, stats };
    },

    dequantize(indices: tf.Tensor): tf.Tensor {
      checkIndices('vq.dequantize', indices, groups);
      return tf.tidy(() => {
        const rows = tf.gather(outputCodebook(), tf.reshape(indices, [-1]));
        return tokensToLatent(rows, [...indices.shape.slice(0, -1), channels], { dim, layout });
      });
    },

    dispose(): void {
      tf.dispose([codebook, ...(clusterSize ? [clusterSize] : []), ...(embedSum ? [embedSum] : []), ...(usage ? [usage] : [])]);
    },
  };
}
