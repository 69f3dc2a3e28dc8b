import * as tf from '@tensorflow/tfjs-core';
import { createCodebook, gqQuantize, usageStats, type Codebook } from '@gq/codebook';
import { psnr, ssim } from '@gq/metrics';
import type { DataParallelTrainer } from '@gq/runtime/parallel';
import { klBits, reparameterize, summarizeBits, type TdcStats } from '@gq/tdc';
import type { TrainConfig } from './config.js';
import { toModelInput, type ImageSet } from './datasets/index.js';

export interface ReconstructionScores {
  readonly psnr: number;
  readonly ssim: number;
}

export interface Evaluation {
  readonly images: number;
  /** decode(dequant(GQ(μ, σ))): the VQ tokenizer's output, the headline number. */
  readonly gq: ReconstructionScores;
  /** decode(μ): deterministic upper reference. */
  readonly mean: ReconstructionScores;
  /** decode(μ + σ·ε) with a fixed evaluation seed: what the decoder was trained on. */
  readonly sample: ReconstructionScores;
  readonly usage: { readonly used: number; readonly fraction: number; readonly perplexity: number; readonly entropyBits: number };
  readonly bits: TdcStats;
  /** Fraction of tokens within [T − 0.5, T + 0.5] bits. */
  readonly inBand: number;
  /** First images of each kind (NHWC float32 in [-1, 1]) for the grid. */
  readonly preview: { readonly original: Float32Array; readonly gq: Float32Array; readonly mean: Float32Array; readonly count: number };
}

type Shape4 = [number, number, number, number];

export function codebookOf(config: TrainConfig): Codebook {
  return createCodebook({ size: 2 ** config.codebookBits, dim: config.dim, seed: config.codebookSeed, method: config.codebookMethod });
}

/**
 * Evaluate the three reconstructions of ALGORITHMS §5 on the held-out images. Forward passes run in
 * replica 0 (`trainer.call`); GQ selection and metrics run here on the current backend.
 */
export async function evaluate(
  config: TrainConfig,
  trainer: DataParallelTrainer,
  test: ImageSet,
  options: { readonly chunk?: number; readonly previewCount?: number } = {},
): Promise<Evaluation> {
  const chunk = options.chunk ?? 64;
  const previewCount = Math.min(options.previewCount ?? 16, test.count);
  const codebook = codebookOf(config);
  const sums = { gq: [0, 0], mean: [0, 0], sample: [0, 0] };
  const indices: number[] = [];
  const bits: number[] = [];
  const preview = {
    original: new Float32Array(0),
    gq: new Float32Array(0),
    mean: new Float32Array(0),
    count: previewCount,
  };
  for (let start = 0; start < test.count; start += chunk) {
    const count = Math.min(chunk, test.count - start);
    const order = Array.from({ length: count }, (_, i) => start + i);
    const shape: Shape4 = [count, config.imageSize, config.imageSize, config.imageChannels];
    const images = toModelInput(test, order, config.imageSize, config.imageChannels);
    const moments = (await trainer.call('encode', { images, shape })) as { mu: Float32Array; logVar: Float32Array; shape: Shape4 };
    const x = tf.tensor4d(images, shape);
    const mu = tf.tensor4d(moments.mu, moments.shape);
    const logVar = tf.tensor4d(moments.logVar, moments.shape);
    const quantized = await gqQuantize(mu, logVar, codebook, { beta: config.beta, layout: config.layout });
    const sampled = reparameterize(mu, logVar, { seed: 0x5eed + start });
    const tokenBits = klBits(mu, logVar, { group: config.dim, layout: config.layout });
    indices.push(...((await quantized.indices.data()) as Int32Array));
    bits.push(...((await tokenBits.data()) as Float32Array));
    const decodeOf = async (latent: tf.Tensor): Promise<tf.Tensor4D> => {
      const out = (await trainer.call('decode', { latent: await latent.data(), shape: latent.shape })) as { images: Float32Array; shape: Shape4 };
      return tf.tensor4d(out.images, out.shape);
    };
    const outputs = { gq: await decodeOf(quantized.zq), mean: await decodeOf(mu), sample: await decodeOf(sampled) };
    for (const kind of ['gq', 'mean', 'sample'] as const) {
      const p = await psnr(x, outputs[kind]);
      const s = await ssim(x, outputs[kind]);
      sums[kind][0] += p.mean * count;
      sums[kind][1] += s.mean * count;
    }
    if (start === 0) {
      const n = previewCount * config.imageSize * config.imageSize * config.imageChannels;
      preview.original = images.slice(0, n);
      preview.gq = ((await outputs.gq.data()) as Float32Array).slice(0, n);
      preview.mean = ((await outputs.mean.data()) as Float32Array).slice(0, n);
    }
    tf.dispose([x, mu, logVar, quantized.indices, quantized.zq, sampled, tokenBits, outputs.gq, outputs.mean, outputs.sample]);
  }
  const n = test.count;
  const usage = usageStats(indices, codebook.size);
  const stats = summarizeBits(bits, { targetBits: config.codebookBits, tolerance: 0.5 });
  const scores = (kind: 'gq' | 'mean' | 'sample'): ReconstructionScores => ({ psnr: sums[kind][0]! / n, ssim: sums[kind][1]! / n });
  return {
    images: n,
    gq: scores('gq'),
    mean: scores('mean'),
    sample: scores('sample'),
    usage: { used: usage.used, fraction: usage.usedFraction, perplexity: usage.perplexity, entropyBits: usage.entropyBits },
    bits: stats,
    inBand: (stats.inBand ?? 0) / stats.count,
    preview,
  };
}
