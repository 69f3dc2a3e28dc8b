import { createCodebook, gq, type Codebook } from '@gq/codebook';
import { bsq, fsq, lfq, tokenBridge, vq, type Quantizer, type TrainableQuantizer } from '@gq/quantizers';
import { createTdc, tokenBridgeTdc, type Tdc } from '@gq/tdc';
import { badOption, integerOption } from './errors.js';
import type { ConfigInput, TrainConfig } from './config.js';

/** What `--bits` (bits per latent position) becomes for one method. */
export interface BottleneckParameters {
  /** C: latent channels. */
  readonly zChannels: number;
  /** m: dimensions per token (1 for TokenBridge, C for FSQ/LFQ/BSQ). */
  readonly dim: number;
  /** log2 K per token (GQ, VQ), B bits per channel (TokenBridge), the exact bits per position (FSQ, LFQ, BSQ); the TDC target. */
  readonly codebookBits: number;
  /** FSQ levels (empty for other methods). */
  readonly levels: readonly number[];
}

/** How a Gaussian method holds its per-token KL rate during training. */
export type RateControl =
  /** TDC: per-token rates pulled into T ± α by three multipliers (`@gq/tdc`); `global`: only λ adapts (the mean rate). */
  | { readonly kind: 'tdc'; readonly global?: boolean; create(config: TrainConfig): Tdc }
  /** A fixed weight per bit of KL (the vanilla Gaussian VAE): the run's `vanillaWeight`. */
  | { readonly kind: 'fixed' };

/** Everything that is specific to one training method; the rest of the library reads only this record. */
export interface MethodSpec {
  /** The `--method` value. */
  readonly name: string;
  /** One line for tables and help. */
  readonly label: string;
  /** A few characters for plot legends and table cells, e.g. `GQ + TDC`, `FSQ`. */
  readonly shortLabel: string;
  /** The encoder's σ is trained and used: training decodes μ + σε and adds the rate term of `rateControl`. */
  readonly gaussian: boolean;
  /** The rate term of a Gaussian method; absent for the quantised baselines. */
  readonly rateControl?: RateControl;
  /** Training decodes the straight-through quantised μ and adds the quantiser's auxiliary loss. */
  readonly trainsThroughQuantizer: boolean;
  /** `--dim` chooses m, the dimensions per token (C/m tokens share one codebook). */
  readonly choosesTokenDim: boolean;
  /** The trained model is a GQ tokenizer, exported as a `@gq/tokenizer` artifact and evaluated through it. */
  readonly exportsArtifact: boolean;
  /**
   * Map bits per position to C, m and the per-token rate (docs/algorithms.md §6.6).
   * @param presetChannels the backbone preset's C, used when the method does not fix C itself
   */
  mapBits(bits: number, input: ConfigInput, presetChannels: number): BottleneckParameters;
  /** Index slots per latent position. */
  tokensPerPosition(config: TrainConfig): number;
  /** Exact bits per latent position of the quantised representation. */
  bitsPerPosition(config: TrainConfig): number;
  /** What `--bits` became, in one line. */
  describe(config: TrainConfig): string;
  /** Label of the quantised reconstruction in tables, e.g. `decode(GQ), K = 2^8`. */
  quantizedLabel(config: TrainConfig): string;
  /**
   * The method's quantiser. For training-time quantisers VQ starts from its seeded initialisation
   * unless `trainedCodebook` ([K, m] row-major) rebuilds a trained one for evaluation.
   */
  createQuantizer(config: TrainConfig, trainedCodebook?: Float32Array): Quantizer<object>;
}

const maxChannels = 64;

function fixedChannels(method: string, bits: number, requested: number | undefined, channels: number, why: string): number {
  if (requested !== undefined && requested !== channels) {
    badOption(`--z-channels ${requested} contradicts ${method} at ${bits} bits per position: ${why} needs C = ${channels}`);
  }
  if (channels < 1 || channels > maxChannels) badOption(`${method} at ${bits} bits per position needs C = ${channels} latent channels; C must be in [1, ${maxChannels}]`);
  return channels;
}

/** C, m and log2 K = bits/G for the methods with a K-entry codebook of m-dimensional tokens (GQ, VQ). */
function codebookBottleneck(method: string, maxLog2K: number) {
  return (bits: number, input: ConfigInput, presetChannels: number): BottleneckParameters => {
    const zChannels = integerOption('z-channels', input.zChannels ?? presetChannels, 1, maxChannels);
    const dim = integerOption('dim', input.dim ?? zChannels, 1, 32);
    if (zChannels % dim !== 0) badOption(`--dim must divide the latent channels (${zChannels}), got ${dim}`);
    const groups = zChannels / dim;
    if (bits % groups !== 0) {
      badOption(`--bits (${bits} per position) must be a multiple of the tokens per position G = C/m = ${zChannels}/${dim} = ${groups}`);
    }
    const codebookBits = bits / groups;
    if (codebookBits > maxLog2K) {
      badOption(`${method}: log2 K = bits/G = ${bits}/${groups} = ${codebookBits} bits per token exceeds ${maxLog2K} (K ≤ 2^${maxLog2K}); use a smaller --dim or fewer --bits`);
    }
    return { zChannels, dim, codebookBits, levels: [] };
  };
}

const tokensOfDim = (config: TrainConfig): number => config.model.zChannels / config.dim;
const bitsOfTokens = (config: TrainConfig): number => tokensOfDim(config) * config.codebookBits;
const bitsOfChannels = (config: TrainConfig): number => config.model.zChannels;

/** The fixed, seeded GQ codebook of a run (K = 2^codebookBits codewords of m dimensions). */
export function codebookOf(config: TrainConfig): Codebook {
  return createCodebook({ size: 2 ** config.codebookBits, dim: config.dim, seed: config.codebookSeed, method: config.codebookMethod });
}

const gqQuantizer = (config: TrainConfig): Quantizer<object> =>
  gq({ codebook: codebookOf(config), channels: config.model.zChannels, beta: config.beta, layout: config.layout });

/** The lambda clamp every TDC run uses: wide enough never to bind in practice, finite so a runaway cannot overflow. */
const lambdaRange: [number, number] = [1e-3, 1e3];

/** The TDC options every TDC run takes from its configuration. */
const tdcOptions = (c: TrainConfig) => ({ lambdaRange, factor: c.tdcFactor, tolerance: c.tdcBand });

const gqMethod = {
  gaussian: true,
  choosesTokenDim: true,
  trainsThroughQuantizer: false,
  exportsArtifact: true,
  mapBits: codebookBottleneck('gq', 24),
  tokensPerPosition: tokensOfDim,
  bitsPerPosition: bitsOfTokens,
  describe: (c: TrainConfig) => `C = ${c.model.zChannels}, m = ${c.dim}, G = ${tokensOfDim(c)}, K = 2^${c.codebookBits}`,
  quantizedLabel: (c: TrainConfig) => `decode(GQ), K = 2^${c.codebookBits}`,
  createQuantizer: gqQuantizer,
} as const;

/** LFQ sub-codebooks: the fewest equal groups of ≤ 12 channels. */
function lfqGroups(channels: number): number {
  let n = 1;
  while (channels % n !== 0 || channels / n > 12) n++;
  return n;
}

const tokenBridgeMethod = {
  gaussian: true,
  choosesTokenDim: false,
  trainsThroughQuantizer: false,
  exportsArtifact: false,
  mapBits(bits: number, input: ConfigInput, presetChannels: number): BottleneckParameters {
    let zChannels: number;
    let perChannel: number;
    if (input.tbBits !== undefined) {
      perChannel = integerOption('tb-bits', input.tbBits, 1, 12);
      if (bits % perChannel !== 0) badOption(`--bits (${bits} per position) must be a multiple of --tb-bits (${perChannel}): C = bits/B channels`);
      zChannels = fixedChannels('tokenbridge', bits, input.zChannels, bits / perChannel, `B = ${perChannel} bits per channel`);
    } else {
      zChannels = integerOption('z-channels', input.zChannels ?? presetChannels, 1, maxChannels);
      if (bits % zChannels !== 0) {
        badOption(`--bits (${bits} per position) must be a multiple of the latent channels C = ${zChannels} (B = bits/C per channel); or give --tb-bits`);
      }
      perChannel = bits / zChannels;
      if (perChannel > 12) badOption(`tokenbridge: B = bits/C = ${perChannel} bits per channel exceeds 12; give --tb-bits or more --z-channels`);
    }
    return { zChannels, dim: 1, codebookBits: perChannel, levels: [] };
  },
  tokensPerPosition: bitsOfChannels,
  bitsPerPosition: bitsOfTokens,
  describe: (c: TrainConfig) => `C = ${c.model.zChannels} channels × B = ${c.codebookBits} bits (m = 1, scale s = ${c.tbScale})`,
  quantizedLabel: (c: TrainConfig) => `decode(TokenBridge(μ)), ${c.codebookBits} bits/channel`,
  createQuantizer: (c: TrainConfig): TrainableQuantizer<object> =>
    tokenBridge({ bits: c.codebookBits, channels: c.model.zChannels, scale: c.tbScale, range: c.tbRange }),
} as const;

/** The FSQ paper's level sets for 8–16 bits (docs/algorithms.md §6.2). */
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

/**
 * The method registry: one record per `--method`. Adding a method means adding one record here
 * (and its tests); nothing else in the library or the apps branches on method names.
 */
export const methodRegistry = {
  gq: {
    ...gqMethod,
    name: 'gq',
    shortLabel: 'GQ + TDC',
    label: 'GQ: Gaussian VAE + TDC, converted with Gaussian Quant',
    rateControl: {
      kind: 'tdc',
      create: (c: TrainConfig) => createTdc({ targetBits: c.codebookBits, group: c.dim, layout: c.layout, ...tdcOptions(c) }),
    },
  },
  'gq-global': {
    ...gqMethod,
    name: 'gq-global',
    shortLabel: 'GQ (global λ)',
    label: 'GQ on a VAE whose mean rate is held at T by the global λ alone (no per-token band)',
    rateControl: {
      kind: 'tdc',
      global: true,
      create: (c: TrainConfig) => createTdc({ targetBits: c.codebookBits, group: c.dim, layout: c.layout, mode: 'globalOnly', ...tdcOptions(c) }),
    },
  },
  'gq-vanilla': {
    ...gqMethod,
    name: 'gq-vanilla',
    shortLabel: 'GQ (vanilla KL)',
    label: 'GQ on a vanilla Gaussian VAE (fixed KL weight, no TDC)',
    rateControl: { kind: 'fixed' },
  },
  vq: {
    name: 'vq',
    shortLabel: 'VQ',
    label: 'VQ: learned codebook, straight-through, commitment + codebook losses',
    gaussian: false,
    choosesTokenDim: true,
    trainsThroughQuantizer: true,
    exportsArtifact: false,
    mapBits: codebookBottleneck('vq', 16),
    tokensPerPosition: tokensOfDim,
    bitsPerPosition: bitsOfTokens,
    describe: gqMethod.describe,
    quantizedLabel: (c: TrainConfig) => `decode(VQ), K = 2^${c.codebookBits}`,
    createQuantizer: (c: TrainConfig, trainedCodebook?: Float32Array): TrainableQuantizer<object> =>
      vq({
        codebookSize: 2 ** c.codebookBits,
        dim: c.dim,
        channels: c.model.zChannels,
        layout: c.layout,
        seed: c.seed,
        ...(trainedCodebook !== undefined ? { initialCodebook: trainedCodebook } : {}),
      }),
  },
  fsq: {
    name: 'fsq',
    shortLabel: 'FSQ',
    choosesTokenDim: false,
    label: 'FSQ: finite scalar quantisation, straight-through',
    gaussian: false,
    trainsThroughQuantizer: true,
    exportsArtifact: false,
    mapBits(bits: number, input: ConfigInput): BottleneckParameters {
      if (input.fsqLevels === 'paper' && fsqPaperLevels[bits] === undefined) {
        badOption(`--fsq-levels paper exists for ${Object.keys(fsqPaperLevels).join(', ')} bits per position, got --bits ${bits}`);
      }
      const levels =
        input.fsqLevels === undefined ? fsqLevelsFor(bits) : input.fsqLevels === 'paper' ? [...fsqPaperLevels[bits]!] : [...input.fsqLevels];
      if (levels.length === 0 || levels.some((l) => !Number.isInteger(l) || l < 2 || l > 65536)) {
        badOption(`--fsq-levels must be integers in [2, 65536], got [${levels.join(',')}]`);
      }
      const exact = levels.reduce((a, l) => a + Math.log2(l), 0);
      if (input.fsqLevels !== undefined && input.fsqLevels !== 'paper' && Math.abs(exact - bits) > 0.5) {
        badOption(`--fsq-levels [${levels.join(',')}] give ${exact.toFixed(2)} bits per position, more than 0.5 from --bits ${bits}`);
      }
      const zChannels = fixedChannels('fsq', bits, input.zChannels, levels.length, `levels [${levels.join(',')}]`);
      return { zChannels, dim: zChannels, codebookBits: exact, levels };
    },
    tokensPerPosition: () => 1,
    bitsPerPosition: (c: TrainConfig) => c.levels.reduce((a, l) => a + Math.log2(l), 0),
    describe: (c: TrainConfig) => `levels [${c.levels.join(',')}] (C = ${c.model.zChannels})`,
    quantizedLabel: (c: TrainConfig) => `decode(FSQ [${c.levels.join(',')}])`,
    createQuantizer: (c: TrainConfig): TrainableQuantizer<object> => fsq({ levels: c.levels }),
  },
  lfq: {
    name: 'lfq',
    shortLabel: 'LFQ',
    choosesTokenDim: false,
    label: 'LFQ: ±1 per channel, entropy loss',
    gaussian: false,
    trainsThroughQuantizer: true,
    exportsArtifact: false,
    mapBits(bits: number, input: ConfigInput): BottleneckParameters {
      const zChannels = fixedChannels('lfq', bits, input.zChannels, bits, 'one bit per channel');
      return { zChannels, dim: zChannels, codebookBits: zChannels, levels: [] };
    },
    tokensPerPosition: (c: TrainConfig) => lfqGroups(c.model.zChannels),
    bitsPerPosition: bitsOfChannels,
    describe: (c: TrainConfig) => {
      const groups = lfqGroups(c.model.zChannels);
      return `C = ${c.model.zChannels}, ${groups} × 2^${c.model.zChannels / groups}`;
    },
    quantizedLabel: (c: TrainConfig) => `decode(LFQ), C = ${c.model.zChannels}`,
    createQuantizer: (c: TrainConfig): TrainableQuantizer<object> => lfq({ channels: c.model.zChannels, subCodebooks: lfqGroups(c.model.zChannels) }),
  },
  bsq: {
    name: 'bsq',
    shortLabel: 'BSQ',
    choosesTokenDim: false,
    label: 'BSQ: sign on the unit sphere, entropy loss',
    gaussian: false,
    trainsThroughQuantizer: true,
    exportsArtifact: false,
    mapBits(bits: number, input: ConfigInput): BottleneckParameters {
      if (bits < 2) badOption(`bsq needs at least 2 bits per position (C ≥ 2 channels on the sphere), got ${bits}`);
      const zChannels = fixedChannels('bsq', bits, input.zChannels, bits, 'one bit per channel');
      return { zChannels, dim: zChannels, codebookBits: zChannels, levels: [] };
    },
    tokensPerPosition: (c: TrainConfig) => (c.model.zChannels <= 30 ? 1 : Math.ceil(c.model.zChannels / 16)),
    bitsPerPosition: bitsOfChannels,
    describe: (c: TrainConfig) => `C = ${c.model.zChannels} on the unit sphere`,
    quantizedLabel: (c: TrainConfig) => `decode(BSQ), C = ${c.model.zChannels}`,
    createQuantizer: (c: TrainConfig): TrainableQuantizer<object> => bsq({ channels: c.model.zChannels }),
  },
  tokenbridge: {
    ...tokenBridgeMethod,
    name: 'tokenbridge',
    shortLabel: 'TokenBridge',
    label: 'TokenBridge: vanilla Gaussian VAE, per-channel Gaussian bins after training',
    rateControl: { kind: 'fixed' },
  },
  'tokenbridge-tdc': {
    ...tokenBridgeMethod,
    name: 'tokenbridge-tdc',
    shortLabel: 'TokenBridge + TDC',
    label: 'TokenBridge on a TDC VAE (per-channel target B bits)',
    rateControl: {
      kind: 'tdc',
      create: (c: TrainConfig) => tokenBridgeTdc({ bitsPerChannel: c.codebookBits, ...tdcOptions(c) }),
    },
  },
  'tokenbridge-global': {
    ...tokenBridgeMethod,
    name: 'tokenbridge-global',
    shortLabel: 'TokenBridge (global λ)',
    label: 'TokenBridge on a VAE whose mean rate per channel is held at B by the global λ alone',
    rateControl: {
      kind: 'tdc',
      global: true,
      create: (c: TrainConfig) => tokenBridgeTdc({ bitsPerChannel: c.codebookBits, mode: 'globalOnly', ...tdcOptions(c) }),
    },
  },
} as const satisfies Record<string, MethodSpec>;

/** A `--method` value. */
export type Method = keyof typeof methodRegistry;

/** Every method, in the registry's order. */
export const methods = Object.keys(methodRegistry) as Method[];

/** How a Gaussian method holds its rate, for tables: `TDC`, `global λ` or `vanilla KL`; `none` for the quantised baselines. */
export function rateControlLabel(spec: MethodSpec): 'TDC' | 'global λ' | 'vanilla KL' | 'none' {
  if (spec.rateControl === undefined) return 'none';
  if (spec.rateControl.kind === 'fixed') return 'vanilla KL';
  return spec.rateControl.global === true ? 'global λ' : 'TDC';
}

/** The registry record of `method` (a `bad-option` error for an unknown name). */
export function methodSpec(method: string): MethodSpec {
  if (!Object.hasOwn(methodRegistry, method)) badOption(`--method must be one of ${methods.join(', ')}, got '${method}'`);
  return methodRegistry[method as Method];
}

