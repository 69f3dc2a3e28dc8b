import * as tf from '@tensorflow/tfjs-core';
import { IndexHistogram, psnr, ssim } from '@gq/metrics';
import { klBits, reparameterize, summarizeBits, type TdcStats } from '@gq/tdc';
import { rate, type RunRate } from './config.js';
import { toModelInput, type ImageSet } from './datasets/index.js';
import { methodSpec, type Method } from './methods.js';
import type { TrainedModel } from './model.js';

export interface ReconstructionScores {
  readonly psnr: number;
  readonly ssim: number;
}

/** Index usage over the whole evaluation set, all positions and index slots pooled (docs/algorithms.md §7). */
export interface IndexUsage {
  /** Values one index slot can take (K; 2^B for TokenBridge; Π L for FSQ). */
  readonly codebookSize: number;
  /** Indices counted. */
  readonly tokens: number;
  readonly used: number;
  readonly fraction: number;
  readonly entropyBits: number;
  readonly perplexity: number;
}

export interface Evaluation {
  readonly method: Method;
  readonly images: number;
  /** What `quantized` decodes, e.g. 'decode(GQ), K = 2^8' or 'decode(FSQ [16,16])'. */
  readonly quantizedLabel: string;
  /** decode(quantised latent): the discrete tokenizer's output, the headline number. */
  readonly quantized: ReconstructionScores;
  /** decode(μ): deterministic upper reference (Gaussian methods). */
  readonly mean?: ReconstructionScores;
  /** decode(μ + σ·ε) with a fixed evaluation seed: what the decoder was trained on (Gaussian methods). */
  readonly sample?: ReconstructionScores;
  readonly usage: IndexUsage;
  /** Per-token KL rates in bits (Gaussian methods; tokens of m channels, m = 1 for TokenBridge). */
  readonly bits?: TdcStats;
  /** Fraction of those tokens within [T − α, T + α] bits (α = the run's `tdcBand`). */
  readonly inBand?: number;
  readonly rate: RunRate;
  /** First images of each kind (NHWC float32 in [-1, 1]) for the grid. */
  readonly preview: {
    readonly original: Float32Array;
    readonly quantized: Float32Array;
    readonly mean?: Float32Array;
    readonly count: number;
  };
}

type Shape4 = [number, number, number, number];

/** Seed of the evaluation noise ε of the chunk starting at image `start` (fixed, so decode(μ + σε) is reproducible). */
const evaluationNoiseSeed = (start: number): number => 0x5eed + start;

/** The quantised latent of one chunk: GQ through the shipped tokenizer, every other method through its quantiser. */
interface ChunkOutputs {
  readonly quantized: tf.Tensor4D;
  readonly indices: Int32Array;
  readonly mu: tf.Tensor;
  readonly logVar: tf.Tensor;
}

async function quantizeChunk(model: TrainedModel, x: tf.Tensor4D, quantizer: ReturnType<TrainedModel['createQuantizer']> | undefined): Promise<ChunkOutputs> {
  const tokenizer = model.tokenizer;
  if (tokenizer !== undefined) {
    const { mu, logVar } = await tokenizer.encodeMoments(x);
    const tokens = await tokenizer.encode(x);
    return { quantized: await tokenizer.decode(tokens), indices: tokens.indices, mu, logVar };
  }
  const { mu, logVar } = model.encode(x);
  const result = await quantizer!.quantize(mu, { training: false, logVar });
  result.stats.dispose();
  result.auxLoss.dispose();
  try {
    return { quantized: model.decode(result.zq), indices: new Int32Array(await result.indices.data()), mu, logVar };
  } finally {
    tf.dispose([result.zq, result.indices]);
  }
}

/**
 * Evaluate a trained model on held-out images, in this thread:
 * - GQ methods go through the model's `Tokenizer` (the artifact's code): decode(encode(x)), plus
 *   decode(μ) and decode(μ + σε) from the same tokenizer (docs/algorithms.md §5), and GQ index usage;
 * - TokenBridge: decode(TokenBridge(μ)), decode(μ), decode(μ + σε) and level usage;
 * - VQ, FSQ, LFQ, BSQ: decode(quantised μ) and the usage/perplexity of their indices.
 * Gaussian methods also report the per-token KL rates and the in-band share.
 */
export async function evaluate(
  model: TrainedModel,
  test: ImageSet,
  options: { readonly chunk?: number; readonly previewCount?: number } = {},
): Promise<Evaluation> {
  const config = model.config;
  const spec = methodSpec(config.method);
  const chunk = options.chunk ?? 64;
  const previewCount = Math.min(options.previewCount ?? 16, test.count);
  const gaussian = spec.gaussian;
  const quantizer = model.tokenizer === undefined ? model.createQuantizer() : undefined;
  const histogram = new IndexHistogram(model.tokenizer !== undefined ? model.tokenizer.codebook.size : quantizer!.codebookSize);
  const kinds = gaussian ? (['quantized', 'mean', 'sample'] as const) : (['quantized'] as const);
  const sums: Record<string, [number, number]> = { quantized: [0, 0], mean: [0, 0], sample: [0, 0] };
  const bits: number[] = [];
  let preview: Evaluation['preview'] = { original: new Float32Array(0), quantized: new Float32Array(0), count: previewCount };
  try {
    for (let start = 0; start < test.count; start += chunk) {
      const count = Math.min(chunk, test.count - start);
      const order = Array.from({ length: count }, (_, i) => start + i);
      const shape: Shape4 = [count, config.imageSize, config.imageSize, config.imageChannels];
      const images = toModelInput(test, order, config.imageSize, config.imageChannels);
      const x = tf.tensor4d(images, shape);
      const held: tf.Tensor[] = [x];
      try {
        const { quantized, indices, mu, logVar } = await quantizeChunk(model, x, quantizer);
        held.push(quantized, mu, logVar);
        histogram.add(indices);
        const outputs: Record<string, tf.Tensor4D> = { quantized };
        if (gaussian) {
          const tokenBits = klBits(mu, logVar, { group: config.dim, layout: config.layout });
          held.push(tokenBits);
          bits.push(...((await tokenBits.data()) as Float32Array));
          const sampled = reparameterize(mu, logVar, { seed: evaluationNoiseSeed(start) });
          held.push(sampled);
          const decode = (latent: tf.Tensor): tf.Tensor4D => model.tokenizer?.decodeLatent(latent) ?? model.decode(latent);
          outputs.mean = decode(mu);
          outputs.sample = decode(sampled);
          held.push(outputs.mean, outputs.sample);
        }
        for (const kind of kinds) {
          const p = await psnr(x, outputs[kind]!);
          const s = await ssim(x, outputs[kind]!);
          sums[kind]![0] += p.mean * count;
          sums[kind]![1] += s.mean * count;
        }
        if (start === 0) {
          const n = previewCount * config.imageSize * config.imageSize * config.imageChannels;
          preview = {
            original: images.slice(0, n),
            quantized: ((await outputs.quantized!.data()) as Float32Array).slice(0, n),
            ...(outputs.mean !== undefined ? { mean: ((await outputs.mean.data()) as Float32Array).slice(0, n) } : {}),
            count: previewCount,
          };
        }
      } finally {
        tf.dispose(held);
      }
    }
  } finally {
    quantizer?.dispose();
  }
  const n = test.count;
  const scores = (kind: string): ReconstructionScores => ({ psnr: sums[kind]![0] / n, ssim: sums[kind]![1] / n });
  const usage = histogram.stats();
  const rateStats = gaussian ? summarizeBits(bits, { targetBits: config.codebookBits, tolerance: config.tdcBand }) : undefined;
  return {
    method: config.method,
    images: n,
    quantizedLabel: spec.quantizedLabel(config),
    quantized: scores('quantized'),
    ...(gaussian ? { mean: scores('mean'), sample: scores('sample') } : {}),
    usage: {
      codebookSize: usage.codebookSize,
      tokens: usage.tokens,
      used: usage.used,
      fraction: usage.usage,
      entropyBits: usage.entropyBits,
      perplexity: usage.perplexity,
    },
    ...(rateStats !== undefined ? { bits: rateStats, inBand: (rateStats.inBand ?? 0) / rateStats.count } : {}),
    rate: rate(config),
    preview,
  };
}
