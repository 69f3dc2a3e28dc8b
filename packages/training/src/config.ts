import { downsamplingFactor, unetPresets, validateUnetConfig, type UnetConfig } from '@gq/vae-unet';
import { tokenCount, validateVitConfig, vitPresets, type VitConfig } from '@gq/vae-vit';
import { BAND_HALF_WIDTH, VANILLA_KL_WEIGHT } from '@gq/core';
import { badOption, integerOption } from './errors.js';
import { methodSpec, type Method } from './methods.js';

export const archs = ['unet', 'vit'] as const;
/** The backbone family: `@gq/vae-unet` or `@gq/vae-vit`. */
export type Arch = (typeof archs)[number];

/** The backbone: which VAE and its config (the discriminant lets `model` narrow). */
export type Backbone =
  | { readonly arch: 'unet'; readonly preset: string; readonly model: UnetConfig }
  | { readonly arch: 'vit'; readonly preset: string; readonly model: VitConfig };

/**
 * How the latent is quantised. `dim` (m) and `codebookBits` (log2 K per token) describe GQ and VQ;
 * for TokenBridge they are m = 1 and B (the TDC target of tokenbridge-tdc); FSQ/LFQ/BSQ have their own fields.
 */
export interface BottleneckConfig {
  /** Requested bits per latent position (the one rate choice shared by all methods). */
  readonly bits: number;
  /** m: dimensions per token. */
  readonly dim: number;
  /** log2 K: bits per token (GQ/VQ), B bits per channel (TokenBridge); the TDC target T. */
  readonly codebookBits: number;
  /** GQ prior weight β. */
  readonly beta: number;
  readonly codebookSeed: number;
  /** The GQ codebook generator: 'sobol' (default), 'normal' (i.i.d.), or 'torch-sobol' (the reference implementation's table). */
  readonly codebookMethod: 'sobol' | 'normal' | 'torch-sobol';
  readonly layout: 'strided' | 'contiguous';
  /** FSQ levels (empty for other methods). */
  readonly levels: readonly number[];
  /** TokenBridge input scale s (x' = clamp(s·x, −r, r)) and clip range r. */
  readonly tbScale: number;
  readonly tbRange: number;
  /** TDC's multiplier update factor γ (λ ← λ·γ or λ/γ each step; the reference's 1.01). */
  readonly tdcFactor: number;
  /** TDC's band half-width α in bits: tokens aim at [T − α, T + α]; evaluation counts that band. */
  readonly tdcBand: number;
}

/** The reference's TDC update factor γ, tuned for runs of 10^5 steps. */
export const REFERENCE_TDC_FACTOR = 1.01;

/**
 * Defaults of fields added to `TrainConfig` after checkpoints were first written: a checkpoint
 * whose config lacks one resumes with this value (the behaviour it was trained with).
 */
export const addedConfigDefaults = { tdcFactor: REFERENCE_TDC_FACTOR, tdcBand: BAND_HALF_WIDTH } as const;

/** Everything that defines a training run; stored in checkpoints and the artifact manifest. */
export type TrainConfig = Backbone &
  BottleneckConfig & {
    readonly method: Method;
    readonly imageSize: number;
    readonly imageChannels: number;
    readonly batchSize: number;
    readonly learningRate: number;
    readonly steps: number;
    readonly seed: number;
    readonly dataset: string;
    readonly testImages: number;
    /** KL weight per bit of the methods whose rate control is `fixed` (@gq/core's VANILLA_KL_WEIGHT: 0.64 per nat, the reference's). */
    readonly vanillaWeight: number;
  };

/** What a caller may set; `resolveConfig` validates it and fills every default. */
export interface ConfigInput {
  readonly method?: string;
  readonly arch?: string;
  readonly preset?: string;
  readonly zChannels?: number;
  readonly dim?: number;
  /** Bits per latent position; each method maps it to its own parameters (README table). */
  readonly bits?: number;
  /** FSQ levels instead of the default [16, …] mapping (e.g. [8, 6, 5]), or 'paper' for the FSQ paper's set at 8–16 bits. */
  readonly fsqLevels?: readonly number[] | 'paper';
  /** TokenBridge bits per channel B (default: bits / C with the preset's C). */
  readonly tbBits?: number;
  readonly tbScale?: number;
  readonly beta?: number;
  readonly batchSize?: number;
  readonly learningRate?: number;
  readonly steps?: number;
  readonly seed?: number;
  readonly dataset?: string;
  readonly testImages?: number;
  readonly codebookMethod?: string;
  /** TDC update factor γ > 1 (default the reference's 1.01). */
  readonly tdcFactor?: number;
  /** TDC band half-width α > 0 in bits (default 0.5). */
  readonly tdcBand?: number;
  /** Overrides of the preset's UNet or ViT config (tests and experiments). */
  readonly model?: Partial<UnetConfig> | Partial<VitConfig>;
}

const maxBits = 64;

function choice<T extends string>(name: string, value: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value)) badOption(`--${name} must be one of ${allowed.join(', ')}, got '${value}'`);
  return value as T;
}

/**
 * The main job's batch and steps (`resolveConfig({})`): the tiny32 UNet with TDC at T = 8 holds
 * ≥ 80 % of held-out tokens within T ± 0.5 bits after 1400 steps at batch 16 (82.8 %; 78.4–82.2 %
 * after 1300, 76 % after 1000, 66.5 % after 700), with decode(μ + σε) − decode(GQ) ≈ 0.25–0.3 dB,
 * in under six minutes on two cores.
 */
export const DEFAULT_BATCH = 16;
export const DEFAULT_STEPS = 1400;

/** Validate options and fill defaults: the README's main job is `resolveConfig({})`. */
export function resolveConfig(input: ConfigInput): TrainConfig {
  const spec = methodSpec(input.method ?? 'gq');
  const method = spec.name as Method;
  const arch = choice('arch', input.arch ?? 'unet', archs);
  const presets: Record<string, UnetConfig | VitConfig> = arch === 'unet' ? unetPresets : vitPresets;
  // The UNet default is the quarter-width tiny32: the README's main job trains it in minutes on two cores.
  const preset = input.preset ?? (arch === 'unet' ? 'tiny32' : 'cpu32');
  if (!(preset in presets)) badOption(`--preset must be one of ${Object.keys(presets).join(', ')} for --arch ${arch}, got '${preset}'`);
  const known = Object.keys(presets[preset]!);
  const unknown = Object.keys(input.model ?? {}).filter((key) => !known.includes(key));
  if (unknown.length > 0) badOption(`model overrides must be ${arch} config keys (${known.join(', ')}), got ${unknown.join(', ')}`);
  const base = { ...presets[preset]!, ...input.model } as UnetConfig | VitConfig;
  const bits = integerOption('bits', input.bits ?? 8, 1, maxBits);
  const mapped = spec.mapBits(bits, input, base.zChannels);
  const codebookMethod = input.codebookMethod ?? 'sobol';
  if (codebookMethod !== 'sobol' && codebookMethod !== 'normal' && codebookMethod !== 'torch-sobol') {
    badOption(`--codebook must be 'sobol', 'normal' or 'torch-sobol', got '${codebookMethod}'`);
  }
  const beta = input.beta ?? 1;
  if (!Number.isFinite(beta) || beta < 0) badOption(`--beta must be ≥ 0, got ${beta}`);
  const tbScale = input.tbScale ?? 1;
  if (!Number.isFinite(tbScale) || tbScale <= 0) badOption(`--tb-scale must be > 0, got ${tbScale}`);
  const tdcFactor = input.tdcFactor ?? REFERENCE_TDC_FACTOR;
  if (!Number.isFinite(tdcFactor) || tdcFactor <= 1 || tdcFactor > 2) badOption(`--tdc-factor must be in (1, 2], got ${tdcFactor}`);
  const tdcBand = input.tdcBand ?? BAND_HALF_WIDTH;
  if (!Number.isFinite(tdcBand) || tdcBand <= 0 || tdcBand > 8) badOption(`--tdc-band must be in (0, 8] bits, got ${tdcBand}`);
  const learningRate = input.learningRate ?? 1e-3;
  if (!Number.isFinite(learningRate) || learningRate <= 0) badOption(`--lr must be > 0, got ${learningRate}`);
  const backbone = backboneOf(arch, preset, { ...base, zChannels: mapped.zChannels });
  return {
    method,
    ...backbone,
    imageSize: backbone.arch === 'unet' ? backbone.model.resolution : backbone.model.imageSize,
    imageChannels: backbone.arch === 'unet' ? backbone.model.inChannels : 3,
    bits,
    dim: mapped.dim,
    codebookBits: mapped.codebookBits,
    beta,
    codebookSeed: 42,
    codebookMethod,
    layout: 'strided',
    levels: mapped.levels,
    tbScale,
    tbRange: 3,
    tdcFactor,
    tdcBand,
    batchSize: integerOption('batch', input.batchSize ?? DEFAULT_BATCH, 2, 4096),
    learningRate,
    steps: integerOption('steps', input.steps ?? DEFAULT_STEPS, 0, 10_000_000),
    seed: integerOption('seed', input.seed ?? 0, 0, 2 ** 32 - 1),
    dataset: input.dataset ?? 'sample',
    testImages: integerOption('test-images', input.testImages ?? 256, 1, 1_000_000),
    vanillaWeight: VANILLA_KL_WEIGHT,
  };
}

function backboneOf(arch: Arch, preset: string, model: UnetConfig | VitConfig): Backbone {
  try {
    if (arch === 'unet') {
      validateUnetConfig(model as UnetConfig, 'resolveConfig');
      return { arch, preset, model: model as UnetConfig };
    }
    validateVitConfig(model as VitConfig, 'resolveConfig');
    return { arch, preset, model: model as VitConfig };
  } catch (error) {
    return badOption(`the ${arch} model config is not usable: ${(error as Error).message}`);
  }
}

/** Latent positions per image: UNet (H/f)², ViT (H/patch)². */
export function positionsPerImage(config: TrainConfig): number {
  if (config.arch === 'vit') return tokenCount(config.model);
  const side = config.imageSize / downsamplingFactor(config.model);
  return side * side;
}

/** Index slots per position: G = C/m for GQ/VQ, C for TokenBridge, the sub-codebooks of LFQ, 1 for FSQ/BSQ (up to 30 bits). */
export function tokensPerPosition(config: TrainConfig): number {
  return methodSpec(config.method).tokensPerPosition(config);
}

/** Exact bits per latent position of the trained method (FSQ: Σ log2 L_i). */
export function bitsPerPosition(config: TrainConfig): number {
  return methodSpec(config.method).bitsPerPosition(config);
}

/** Bits per image and per pixel of the quantised representation (fixed-length codes). */
export interface RunRate {
  readonly positions: number;
  readonly tokensPerImage: number;
  readonly bitsPerPosition: number;
  readonly bitsPerImage: number;
  readonly bpp: number;
}

/** Bits per image and per pixel of the quantised representation (fixed-length codes). */
export function rate(config: TrainConfig): RunRate {
  const positions = positionsPerImage(config);
  const perPosition = bitsPerPosition(config);
  const bitsPerImage = positions * perPosition;
  return {
    positions,
    tokensPerImage: positions * tokensPerPosition(config),
    bitsPerPosition: perPosition,
    bitsPerImage,
    bpp: bitsPerImage / (config.imageSize * config.imageSize),
  };
}

/** One line describing what --bits became for this method. */
export function describeBottleneck(config: TrainConfig): string {
  return methodSpec(config.method).describe(config);
}
