import { downsamplingFactor, unetPresets, validateUnetConfig, type UnetConfig } from '@gq/vae-unet';
import { tokenCount, validateVitConfig, vitPresets, type VitConfig } from '@gq/vae-vit';
import { TrainError } from './errors.js';

export const methods = ['gq', 'gq-vanilla', 'vq', 'fsq', 'lfq', 'bsq', 'tokenbridge', 'tokenbridge-tdc'] as const;
export type Method = (typeof methods)[number];
export const archs = ['unet', 'vit'] as const;
export type Arch = (typeof archs)[number];

/** Methods whose VAE is Gaussian (encoder emits μ and log σ², training decodes μ + σε). */
export const gaussianMethods: readonly Method[] = ['gq', 'gq-vanilla', 'tokenbridge', 'tokenbridge-tdc'];
/** Methods converted to a @gq/tokenizer artifact (the artifact format holds a GQ codebook only). */
export const gqMethods: readonly Method[] = ['gq', 'gq-vanilla'];

export const isGaussian = (method: Method): boolean => gaussianMethods.includes(method);

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
  /** log2 K: bits per token (GQ/VQ), B bits per channel (TokenBridge); the TDC target. */
  readonly codebookBits: number;
  /** GQ prior weight β. */
  readonly beta: number;
  readonly codebookSeed: number;
  readonly codebookMethod: 'sobol' | 'normal';
  readonly layout: 'strided' | 'contiguous';
  /** FSQ levels (empty for other methods). */
  readonly levels: readonly number[];
  /** TokenBridge input scale s (x' = clamp(s·x, −r, r)) and clip range r. */
  readonly tbScale: number;
  readonly tbRange: number;
}

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
    /** Fixed KL weight per bit for gq-vanilla and tokenbridge (0.64 per nat = 0.4436 per bit, the reference's). */
    readonly vanillaWeight: number;
  };

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
  /** Overrides of the preset's UNet or ViT config (tests and experiments). */
  readonly model?: Partial<UnetConfig> | Partial<VitConfig>;
}

const bad = (message: string): never => {
  throw new TrainError('bad-option', message);
};

function integer(name: string, value: number, lo: number, hi: number): number {
  if (!Number.isInteger(value) || value < lo || value > hi) bad(`--${name} must be an integer in [${lo}, ${hi}], got ${value}`);
  return value;
}

function choice<T extends string>(name: string, value: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value)) bad(`--${name} must be one of ${allowed.join(', ')}, got '${value}'`);
  return value as T;
}

/** The FSQ paper's level sets for 8–16 bits (ALGORITHMS §6.2); exact powers of two use 16-level channels. */
export const fsqPaperLevels: Readonly<Record<number, readonly number[]>> = {
  8: [8, 6, 5],
  10: [8, 5, 5, 5],
  12: [7, 5, 5, 5, 5],
  14: [8, 8, 8, 6, 5],
  16: [8, 8, 8, 5, 5, 5],
};

/**
 * FSQ levels for `bits` per position: 16-level channels (4 bits each, the authors' comparison runs)
 * plus one channel of 2^r levels for the remainder, so the rate is exactly `bits`.
 */
export function fsqLevelsFor(bits: number): number[] {
  const levels: number[] = Array.from({ length: Math.floor(bits / 4) }, () => 16);
  if (bits % 4 !== 0) levels.push(2 ** (bits % 4));
  return levels;
}

const maxBits = 64;
const maxChannels = 64;

interface Mapped {
  readonly zChannels: number;
  readonly dim: number;
  readonly codebookBits: number;
  readonly levels: readonly number[];
}

/** ALGORITHMS §6.6: map bits per position to each method's parameters. */
function mapBits(method: Method, bits: number, input: ConfigInput, presetChannels: number): Mapped {
  const requestedChannels = input.zChannels;
  const fixedChannels = (channels: number, why: string): number => {
    if (requestedChannels !== undefined && requestedChannels !== channels) {
      bad(`--z-channels ${requestedChannels} contradicts ${method} at ${bits} bits per position: ${why} needs C = ${channels}`);
    }
    if (channels < 1 || channels > maxChannels) bad(`${method} at ${bits} bits per position needs C = ${channels} latent channels; C must be in [1, ${maxChannels}]`);
    return channels;
  };
  switch (method) {
    case 'gq':
    case 'gq-vanilla':
    case 'vq': {
      const zChannels = integer('z-channels', requestedChannels ?? presetChannels, 1, maxChannels);
      const dim = integer('dim', input.dim ?? zChannels, 1, 32);
      if (zChannels % dim !== 0) bad(`--dim must divide the latent channels (${zChannels}), got ${dim}`);
      const groups = zChannels / dim;
      if (bits % groups !== 0) {
        bad(`--bits (${bits} per position) must be a multiple of the tokens per position G = C/m = ${zChannels}/${dim} = ${groups}`);
      }
      const codebookBits = bits / groups;
      const limit = method === 'vq' ? 16 : 24;
      if (codebookBits > limit) {
        bad(`${method}: log2 K = bits/G = ${bits}/${groups} = ${codebookBits} bits per token exceeds ${limit} (K ≤ 2^${limit}); use a smaller --dim or fewer --bits`);
      }
      return { zChannels, dim, codebookBits, levels: [] };
    }
    case 'fsq': {
      if (input.fsqLevels === 'paper' && fsqPaperLevels[bits] === undefined) {
        bad(`--fsq-levels paper exists for ${Object.keys(fsqPaperLevels).join(', ')} bits per position, got --bits ${bits}`);
      }
      const levels =
        input.fsqLevels === undefined ? fsqLevelsFor(bits) : input.fsqLevels === 'paper' ? [...fsqPaperLevels[bits]!] : [...input.fsqLevels];
      if (levels.length === 0 || levels.some((l) => !Number.isInteger(l) || l < 2 || l > 65536)) {
        bad(`--fsq-levels must be integers in [2, 65536], got [${levels.join(',')}]`);
      }
      const exact = levels.reduce((a, l) => a + Math.log2(l), 0);
      if (input.fsqLevels === undefined || input.fsqLevels === 'paper' || Math.abs(exact - bits) <= 0.5) {
        const zChannels = fixedChannels(levels.length, `levels [${levels.join(',')}]`);
        return { zChannels, dim: zChannels, codebookBits: exact, levels };
      }
      return bad(`--fsq-levels [${levels.join(',')}] give ${exact.toFixed(2)} bits per position, more than 0.5 from --bits ${bits}`);
    }
    case 'lfq':
    case 'bsq': {
      if (method === 'bsq' && bits < 2) bad(`bsq needs at least 2 bits per position (C ≥ 2 channels on the sphere), got ${bits}`);
      const zChannels = fixedChannels(bits, 'one bit per channel');
      return { zChannels, dim: zChannels, codebookBits: zChannels, levels: [] };
    }
    case 'tokenbridge':
    case 'tokenbridge-tdc': {
      let zChannels: number;
      let perChannel: number;
      if (input.tbBits !== undefined) {
        perChannel = integer('tb-bits', input.tbBits, 1, 12);
        if (bits % perChannel !== 0) bad(`--bits (${bits} per position) must be a multiple of --tb-bits (${perChannel}): C = bits/B channels`);
        zChannels = fixedChannels(bits / perChannel, `B = ${perChannel} bits per channel`);
      } else {
        zChannels = integer('z-channels', requestedChannels ?? presetChannels, 1, maxChannels);
        if (bits % zChannels !== 0) {
          bad(`--bits (${bits} per position) must be a multiple of the latent channels C = ${zChannels} (B = bits/C per channel); or give --tb-bits`);
        }
        perChannel = bits / zChannels;
        if (perChannel > 12) bad(`tokenbridge: B = bits/C = ${perChannel} bits per channel exceeds 12; give --tb-bits or more --z-channels`);
      }
      return { zChannels, dim: 1, codebookBits: perChannel, levels: [] };
    }
  }
}

/** Validate options and fill defaults: the README's main job is `resolveConfig({})`. */
export function resolveConfig(input: ConfigInput): TrainConfig {
  const method = choice('method', input.method ?? 'gq', methods);
  const arch = choice('arch', input.arch ?? 'unet', archs);
  const presets: Record<string, UnetConfig | VitConfig> = arch === 'unet' ? unetPresets : vitPresets;
  // The UNet default is the quarter-width tiny32: the README's main job trains it in minutes on two cores.
  const preset = input.preset ?? (arch === 'unet' ? 'tiny32' : 'cpu32');
  if (!(preset in presets)) bad(`--preset must be one of ${Object.keys(presets).join(', ')} for --arch ${arch}, got '${preset}'`);
  const known = Object.keys(presets[preset]!);
  const unknown = Object.keys(input.model ?? {}).filter((key) => !known.includes(key));
  if (unknown.length > 0) bad(`model overrides must be ${arch} config keys (${known.join(', ')}), got ${unknown.join(', ')}`);
  const base = { ...presets[preset]!, ...input.model } as UnetConfig | VitConfig;
  const bits = integer('bits', input.bits ?? 8, 1, maxBits);
  const mapped = mapBits(method, bits, input, base.zChannels);
  const codebookMethod = input.codebookMethod ?? 'sobol';
  if (codebookMethod !== 'sobol' && codebookMethod !== 'normal') bad(`--codebook must be 'sobol' or 'normal', got '${codebookMethod}'`);
  const beta = input.beta ?? 1;
  if (!Number.isFinite(beta) || beta < 0) bad(`--beta must be ≥ 0, got ${beta}`);
  const tbScale = input.tbScale ?? 1;
  if (!Number.isFinite(tbScale) || tbScale <= 0) bad(`--tb-scale must be > 0, got ${tbScale}`);
  const learningRate = input.learningRate ?? 1e-3;
  if (!Number.isFinite(learningRate) || learningRate <= 0) bad(`--lr must be > 0, got ${learningRate}`);
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
    codebookMethod: codebookMethod as 'sobol' | 'normal',
    layout: 'strided',
    levels: mapped.levels,
    tbScale,
    tbRange: 3,
    batchSize: integer('batch', input.batchSize ?? 32, 2, 4096),
    learningRate,
    steps: integer('steps', input.steps ?? 300, 0, 10_000_000),
    seed: integer('seed', input.seed ?? 0, 0, 2 ** 32 - 1),
    dataset: input.dataset ?? 'sample',
    testImages: integer('test-images', input.testImages ?? 256, 1, 1_000_000),
    vanillaWeight: 0.64 * Math.LN2,
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
    return bad(`the ${arch} model config is not usable: ${(error as Error).message}`);
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
  const c = config.model.zChannels;
  switch (config.method) {
    case 'fsq':
      return 1;
    case 'bsq':
      return c <= 30 ? 1 : Math.ceil(c / 16);
    case 'lfq': {
      let n = 1;
      while (c % n !== 0 || c / n > 12) n++;
      return n;
    }
    default:
      return c / config.dim;
  }
}

/** Exact bits per latent position of the trained method (FSQ: Σ log2 L_i). */
export function bitsPerPosition(config: TrainConfig): number {
  switch (config.method) {
    case 'fsq':
      return config.levels.reduce((a, l) => a + Math.log2(l), 0);
    case 'lfq':
    case 'bsq':
      return config.model.zChannels;
    default:
      return (config.model.zChannels / config.dim) * config.codebookBits;
  }
}

/** Bits per image and per pixel of the quantised representation (fixed-length codes). */
export function rate(config: TrainConfig): { positions: number; tokensPerImage: number; bitsPerPosition: number; bitsPerImage: number; bpp: number } {
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
  const c = config.model.zChannels;
  switch (config.method) {
    case 'gq':
    case 'gq-vanilla':
    case 'vq':
      return `C = ${c}, m = ${config.dim}, G = ${c / config.dim}, K = 2^${config.codebookBits}`;
    case 'fsq':
      return `levels [${config.levels.join(',')}] (C = ${c})`;
    case 'lfq':
      return `C = ${c}, ${tokensPerPosition(config)} × 2^${c / tokensPerPosition(config)}`;
    case 'bsq':
      return `C = ${c} on the unit sphere`;
    case 'tokenbridge':
    case 'tokenbridge-tdc':
      return `C = ${c} channels × B = ${config.codebookBits} bits (m = 1, scale s = ${config.tbScale})`;
  }
}
