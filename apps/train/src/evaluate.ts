import * as tf from '@tensorflow/tfjs-core';
import { createCodebook, gqQuantize, releaseCodebookTensors, type Codebook } from '@gq/codebook';
import { IndexHistogram, psnr, ssim } from '@gq/metrics';
import type { Quantizer } from '@gq/quantizers';
import type { DataParallelTrainer } from '@gq/runtime/parallel';
import { klBits, reparameterize, summarizeBits, type TdcStats } from '@gq/tdc';
import { gqMethods, isGaussian, rate, type Method, type TrainConfig } from './config.js';
import { toModelInput, type ImageSet } from './datasets/index.js';
import { TrainError } from './errors.js';
import { createQuantizer } from './quantizer.js';

export interface ReconstructionScores {
  readonly psnr: number;
  readonly ssim: number;
}

/** Index usage over the whole evaluation set, all positions and index slots pooled (ALGORITHMS §7). */
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
  /** Fraction of those tokens within [T − 0.5, T + 0.5] bits. */
  readonly inBand?: number;
  readonly rate: ReturnType<typeof rate>;
  /** First images of each kind (NHWC float32 in [-1, 1]) for the grid. */
  readonly preview: {
    readonly original: Float32Array;
    readonly quantized: Float32Array;
    readonly mean?: Float32Array;
    readonly count: number;
  };
}

type Shape4 = [number, number, number, number];

/** The fixed GQ codebook of a gq / gq-vanilla run. */
export function codebookOf(config: TrainConfig): Codebook {
  return createCodebook({ size: 2 ** config.codebookBits, dim: config.dim, seed: config.codebookSeed, method: config.codebookMethod });
}

/** Label of the quantised reconstruction in tables and summaries. */
export function quantizedLabel(config: TrainConfig): string {
  switch (config.method) {
    case 'gq':
    case 'gq-vanilla':
      return `decode(GQ), K = 2^${config.codebookBits}`;
    case 'vq':
      return `decode(VQ), K = 2^${config.codebookBits}`;
    case 'fsq':
      return `decode(FSQ [${config.levels.join(',')}])`;
    case 'lfq':
      return `decode(LFQ), C = ${config.model.zChannels}`;
    case 'bsq':
      return `decode(BSQ), C = ${config.model.zChannels}`;
    case 'tokenbridge':
    case 'tokenbridge-tdc':
      return `decode(TokenBridge(μ)), ${config.codebookBits} bits/channel`;
  }
}

/** The evaluation-time quantiser: VQ is rebuilt from replica 0's trained codebook. */
async function evaluationQuantizer(config: TrainConfig, trainer: DataParallelTrainer): Promise<Quantizer<object> | undefined> {
  if (config.method !== 'vq') return createQuantizer(config);
  const trained = (await trainer.call('codebook')) as { data: Float32Array } | null;
  if (trained === null) throw new TrainError('no-codebook', 'evaluate: the VQ replica returned no codebook');
  return createQuantizer(config, trained.data);
}

/**
 * Evaluate on the held-out images. Forward passes run in replica 0 (`trainer.call`); quantisation
 * and metrics run here on the current backend.
 * - gq, gq-vanilla: decode(GQ(μ, σ)), decode(μ), decode(μ + σε) (ALGORITHMS §5) and GQ usage.
 * - tokenbridge(-tdc): decode(TokenBridge(μ)), decode(μ), decode(μ + σε) and level usage.
 * - vq, fsq, lfq, bsq: decode(quantised μ) and the usage/perplexity of their indices.
 */
export async function evaluate(
  config: TrainConfig,
  trainer: DataParallelTrainer,
  test: ImageSet,
  options: { readonly chunk?: number; readonly previewCount?: number } = {},
): Promise<Evaluation> {
  const chunk = options.chunk ?? 64;
  const previewCount = Math.min(options.previewCount ?? 16, test.count);
  const gaussian = isGaussian(config.method);
  const usesGq = gqMethods.includes(config.method);
  const codebook = usesGq ? codebookOf(config) : undefined;
  const quantizer = usesGq ? undefined : await evaluationQuantizer(config, trainer);
  const histogram = new IndexHistogram(codebook !== undefined ? codebook.size : quantizer!.codebookSize);
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
      const moments = (await trainer.call('encode', { images, shape })) as { mu: Float32Array; logVar: Float32Array; shape: number[] };
      const x = tf.tensor4d(images, shape);
      const mu = tf.tensor(moments.mu, moments.shape, 'float32');
      const logVar = tf.tensor(moments.logVar, moments.shape, 'float32');
      const held: tf.Tensor[] = [x, mu, logVar];
      try {
        let zq: tf.Tensor;
        let indices: tf.Tensor;
        if (codebook !== undefined) {
          ({ zq, indices } = await gqQuantize(mu, logVar, codebook, { beta: config.beta, layout: config.layout }));
        } else {
          const result = quantizer!.quantize(mu, { training: false });
          result.stats.dispose();
          result.auxLoss.dispose();
          ({ zq, indices } = result);
        }
        held.push(zq, indices);
        histogram.add((await indices.data()) as Int32Array);
        const decodeOf = async (latent: tf.Tensor): Promise<tf.Tensor4D> => {
          const out = (await trainer.call('decode', { latent: await latent.data(), shape: latent.shape })) as { images: Float32Array; shape: Shape4 };
          const decoded = tf.tensor4d(out.images, out.shape);
          held.push(decoded);
          return decoded;
        };
        const outputs: Record<string, tf.Tensor4D> = { quantized: await decodeOf(zq) };
        if (gaussian) {
          const tokenBits = klBits(mu, logVar, { group: config.dim, layout: config.layout });
          held.push(tokenBits);
          bits.push(...((await tokenBits.data()) as Float32Array));
          const sampled = reparameterize(mu, logVar, { seed: 0x5eed + start });
          held.push(sampled);
          outputs.mean = await decodeOf(mu);
          outputs.sample = await decodeOf(sampled);
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
    // gqQuantize caches the codebook's features on the device; evaluation is done with them.
    if (codebook !== undefined) releaseCodebookTensors(codebook);
  }
  const n = test.count;
  const scores = (kind: string): ReconstructionScores => ({ psnr: sums[kind]![0] / n, ssim: sums[kind]![1] / n });
  const usage = histogram.stats();
  const rateStats = gaussian ? summarizeBits(bits, { targetBits: config.codebookBits, tolerance: 0.5 }) : undefined;
  return {
    method: config.method,
    images: n,
    quantizedLabel: quantizedLabel(config),
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
