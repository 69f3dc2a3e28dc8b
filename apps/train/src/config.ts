import { unetPresets, type UnetConfig } from '@gq/vae-unet';
import { TrainError } from './errors.js';

export const methods = ['gq', 'gq-vanilla'] as const;
export type Method = (typeof methods)[number];

/** Everything that defines a training run; stored in checkpoints and the artifact manifest. */
export interface TrainConfig {
  readonly method: Method;
  readonly arch: 'unet';
  readonly preset: keyof typeof unetPresets;
  readonly model: UnetConfig;
  readonly imageSize: number;
  readonly imageChannels: number;
  /** m: dimensions per token. */
  readonly dim: number;
  /** log2 K: bits per token (the TDC target). */
  readonly codebookBits: number;
  /** GQ prior weight β. */
  readonly beta: number;
  readonly codebookSeed: number;
  readonly codebookMethod: 'sobol' | 'normal';
  readonly layout: 'strided' | 'contiguous';
  readonly batchSize: number;
  readonly learningRate: number;
  readonly steps: number;
  readonly seed: number;
  readonly dataset: string;
  readonly testImages: number;
  /** Fixed KL weight per bit for gq-vanilla (0.64 per nat = 0.4436 per bit, the reference's). */
  readonly vanillaWeight: number;
}

export interface ConfigInput {
  readonly method?: string;
  readonly preset?: string;
  readonly zChannels?: number;
  readonly dim?: number;
  readonly codebookBits?: number;
  readonly beta?: number;
  readonly batchSize?: number;
  readonly learningRate?: number;
  readonly steps?: number;
  readonly seed?: number;
  readonly dataset?: string;
  readonly testImages?: number;
  readonly codebookMethod?: string;
  /** Overrides of the preset's UNet config (tests and experiments). */
  readonly model?: Partial<UnetConfig>;
}

function integer(name: string, value: number, lo: number, hi: number): number {
  if (!Number.isInteger(value) || value < lo || value > hi) {
    throw new TrainError('bad-option', `--${name} must be an integer in [${lo}, ${hi}], got ${value}`);
  }
  return value;
}

/** Validate options and fill defaults: the README's main job is `resolveConfig({})`. */
export function resolveConfig(input: ConfigInput): TrainConfig {
  const method = input.method ?? 'gq';
  if (!(methods as readonly string[]).includes(method)) {
    throw new TrainError('bad-option', `--method must be one of ${methods.join(', ')}, got '${method}'`);
  }
  const preset = input.preset ?? 'cpu32';
  if (!(preset in unetPresets)) {
    throw new TrainError('bad-option', `--preset must be one of ${Object.keys(unetPresets).join(', ')}, got '${preset}'`);
  }
  const base: UnetConfig = { ...unetPresets[preset as keyof typeof unetPresets], ...input.model };
  const zChannels = integer('z-channels', input.zChannels ?? base.zChannels, 1, 64);
  const dim = integer('dim', input.dim ?? zChannels, 1, 32);
  if (zChannels % dim !== 0) {
    throw new TrainError('bad-option', `--dim must divide the latent channels (${zChannels}), got ${dim}`);
  }
  const codebookBits = integer('bits', input.codebookBits ?? 8, 1, 24);
  const codebookMethod = input.codebookMethod ?? 'sobol';
  if (codebookMethod !== 'sobol' && codebookMethod !== 'normal') {
    throw new TrainError('bad-option', `--codebook must be 'sobol' or 'normal', got '${codebookMethod}'`);
  }
  const beta = input.beta ?? 1;
  if (!Number.isFinite(beta) || beta < 0) throw new TrainError('bad-option', `--beta must be ≥ 0, got ${beta}`);
  const learningRate = input.learningRate ?? 1e-3;
  if (!Number.isFinite(learningRate) || learningRate <= 0) {
    throw new TrainError('bad-option', `--lr must be > 0, got ${learningRate}`);
  }
  return {
    method: method as Method,
    arch: 'unet',
    preset: preset as keyof typeof unetPresets,
    model: { ...base, zChannels },
    imageSize: base.resolution,
    imageChannels: base.inChannels,
    dim,
    codebookBits,
    beta,
    codebookSeed: 42,
    codebookMethod,
    layout: 'strided',
    batchSize: integer('batch', input.batchSize ?? 32, 2, 4096),
    learningRate,
    steps: integer('steps', input.steps ?? 300, 0, 10_000_000),
    seed: integer('seed', input.seed ?? 0, 0, 2 ** 32 - 1),
    dataset: input.dataset ?? 'sample',
    testImages: integer('test-images', input.testImages ?? 256, 1, 1_000_000),
    vanillaWeight: 0.64 * Math.LN2,
  };
}

/** Bits per image and per pixel of the converted tokenizer. */
export function rate(config: TrainConfig): { tokensPerImage: number; bitsPerImage: number; bpp: number } {
  const factor = 2 ** (config.model.chMult.length - 1);
  const side = config.imageSize / factor;
  const tokensPerImage = side * side * (config.model.zChannels / config.dim);
  const bitsPerImage = tokensPerImage * config.codebookBits;
  return { tokensPerImage, bitsPerImage, bpp: bitsPerImage / (config.imageSize * config.imageSize) };
}
