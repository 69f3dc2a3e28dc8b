import * as tf from '@tensorflow/tfjs-core';
import { LOG_VAR_MAX, LOG_VAR_MIN } from '@gq/core';
import { createCodebook, gqQuantize, releaseCodebookTensors, type SelectionRule } from '@gq/codebook';
import { IndexHistogram, largeErrorStats, quantileSorted, rateStats, type LargeErrorBins, type RateStats } from '@gq/metrics';
import { klBits, reparameterize } from '@gq/tdc';
import { decodeScores, encodeTestSet, type EncodedChunk, type BenchModel } from './runs.js';

export interface Scores {
  readonly psnr: number;
  readonly ssim: number;
}

export interface Conversion extends Scores {
  readonly codebookBits: number;
  readonly codebookSize: number;
  readonly usage: number;
  readonly perplexity: number;
  /** P̂(|ẑ − μ| ≥ σ) over all scalar latent dimensions, with the model's rule (β from the config). */
  readonly largeErrorGq: number;
  /** The same with the nearest-neighbour rule (β = 0, σ := 1), the rule of Theorems 3.1/3.2. */
  readonly largeErrorNearest: number;
  /** Mean slack t = ln K − R̄·ln 2 over tokens, nats. */
  readonly meanSlackNats: number;
}

export interface GaussianAnalysis {
  readonly images: number;
  readonly mean: Scores;
  readonly sample: Scores;
  readonly conversions: readonly Conversion[];
  /** Per-token rates R_u (bits), tokens of m dimensions. */
  readonly tokenBits: RateStats;
  /** Per-dimension rates (bits), m = 1. */
  readonly dimBits: RateStats;
  /** 95th percentile of |μ·σ| over all latent dimensions (c₁ of Theorem 3.1). */
  readonly c1p95: number;
}

const EVAL_NOISE_SEED = 0x5eed;

/** How the analysis converts: β and the codebook generator (default the run's). */
export interface ConversionOptions {
  readonly beta?: number;
  readonly codebookMethod?: 'sobol' | 'normal';
}

async function floatsOf(t: tf.Tensor): Promise<Float32Array> {
  return (await t.data()) as Float32Array;
}

/**
 * Encode the held-out set once, then: decode(μ), decode(μ + σε) (fixed seed), and for every
 * log2 K in `codebookBits` (or chosen from the mean rate per token) the GQ conversion with the run's codebook method, seed, β and layout,
 * with usage and large-error probabilities. With `bins`, tokens of every K are pooled by their
 * slack for the Theorem 3.1 comparison (nearest rule; m = 1 only, where a token is one dimension).
 */
export async function analyseGaussian(
  model: BenchModel,
  codebookBits: readonly number[] | ((meanRateBits: number) => readonly number[]),
  bins?: LargeErrorBins,
  conversion: ConversionOptions = {},
): Promise<GaussianAnalysis> {
  const { config } = model;
  const beta = conversion.beta ?? config.beta;
  const codebookMethod = conversion.codebookMethod ?? config.codebookMethod;
  const chunks = await encodeTestSet(model);
  const sums = { mean: [0, 0], sample: [0, 0] };
  const tokenRates: number[] = [];
  const dimRates: number[] = [];
  const muSigma: number[] = [];
  for (const [c, chunk] of chunks.entries()) {
    await withMoments(chunk, async (mu, logVar) => {
      const tokenBits = klBits(mu, logVar, { group: config.dim, layout: config.layout });
      const dimBits = klBits(mu, logVar, { group: 1, layout: config.layout });
      const sample = reparameterize(mu, logVar, { seed: EVAL_NOISE_SEED + c });
      const product = tf.tidy(() => tf.abs(tf.mul(mu, tf.exp(tf.mul(tf.clipByValue(logVar, LOG_VAR_MIN, LOG_VAR_MAX), 0.5)))));
      try {
        tokenRates.push(...(await floatsOf(tokenBits)));
        dimRates.push(...(await floatsOf(dimBits)));
        muSigma.push(...(await floatsOf(product)));
        for (const [kind, latent] of [['mean', mu], ['sample', sample]] as const) {
          const s = await decodeScores(model, chunk, latent);
          sums[kind][0] += s.psnrSum;
          sums[kind][1] += s.ssimSum;
        }
      } finally {
        tf.dispose([tokenBits, dimBits, sample, product]);
      }
    });
  }
  const images = chunks.reduce((a, c) => a + c.imageShape[0], 0);
  const meanRate = tokenRates.reduce((a, r) => a + r, 0) / tokenRates.length;
  const conversions: Conversion[] = [];
  for (const bits of typeof codebookBits === 'function' ? codebookBits(meanRate) : codebookBits) {
    const codebook = createCodebook({ size: 2 ** bits, dim: config.dim, seed: config.codebookSeed, method: codebookMethod });
    const histogram = new IndexHistogram(codebook.size);
    let psnrSum = 0;
    let ssimSum = 0;
    const large = { gq: 0, nearest: 0, dims: 0 };
    for (const chunk of chunks) {
      await withMoments(chunk, async (mu, logVar) => {
        const held: tf.Tensor[] = [];
        try {
          const rules: SelectionRule[] = ['gq', 'nearest'];
          for (const rule of rules) {
            const { zq, indices } = await gqQuantize(mu, logVar, codebook, { beta, layout: config.layout, rule });
            held.push(zq, indices);
            const stats = await largeErrorStats(zq, mu, logVar, { tokenDim: 1 });
            large[rule] += stats.largeErrors;
            if (rule === 'gq') {
              large.dims += stats.dims;
              histogram.add((await indices.data()) as Int32Array);
              const s = await decodeScores(model, chunk, zq);
              psnrSum += s.psnrSum;
              ssimSum += s.ssimSum;
            } else if (bins !== undefined && config.dim === 1) {
              const rates = klBits(mu, logVar, { group: 1, layout: config.layout });
              held.push(rates);
              bins.add({ rates: await floatsOf(rates), largeErrors: stats.perToken, tokenDim: 1, codebookSize: codebook.size });
            }
          }
        } finally {
          tf.dispose(held);
        }
      });
    }
    releaseCodebookTensors(codebook);
    const usage = histogram.stats();
    conversions.push({
      codebookBits: bits,
      codebookSize: codebook.size,
      psnr: psnrSum / images,
      ssim: ssimSum / images,
      usage: usage.usage,
      perplexity: usage.perplexity,
      largeErrorGq: large.gq / large.dims,
      largeErrorNearest: large.nearest / large.dims,
      meanSlackNats: Math.log(codebook.size) - meanRate * Math.LN2,
    });
  }
  const sortedMuSigma = Float64Array.from(muSigma).sort();
  return {
    images,
    mean: { psnr: sums.mean[0]! / images, ssim: sums.mean[1]! / images },
    sample: { psnr: sums.sample[0]! / images, ssim: sums.sample[1]! / images },
    conversions,
    tokenBits: rateStats(tokenRates, { target: config.codebookBits, tolerance: config.tdcBand, binWidth: 0.5 }),
    dimBits: rateStats(dimRates, { binWidth: 0.25 }),
    c1p95: quantileSorted(sortedMuSigma, 0.95),
  };
}

async function withMoments(chunk: EncodedChunk, use: (mu: tf.Tensor, logVar: tf.Tensor) => Promise<void>): Promise<void> {
  const mu = tf.tensor(chunk.mu, chunk.latentShape, 'float32');
  const logVar = tf.tensor(chunk.logVar, chunk.latentShape, 'float32');
  try {
    await use(mu, logVar);
  } finally {
    tf.dispose([mu, logVar]);
  }
}
