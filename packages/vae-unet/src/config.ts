import { VaeUnetError } from './errors.js';

/**
 * The reference's `pit.modules.unet.Encoder`/`Decoder` constructor arguments, camel-cased. One
 * config describes both halves (the authors pass the same dict to both).
 */
export interface UnetConfig {
  /** Image side the model is built for; decides where attention sits (`attnResolutions`). */
  readonly resolution: number;
  readonly inChannels: number;
  readonly outChannels: number;
  /** Base channel count. */
  readonly ch: number;
  /** Channel multiplier per level; the downsampling factor is 2^(levels − 1). */
  readonly chMult: readonly number[];
  readonly numResBlocks: number;
  /** Feature-map sides (relative to `resolution`) whose levels get a self-attention block after each ResnetBlock. */
  readonly attnResolutions: readonly number[];
  /** Latent channels C; the encoder emits 2C (μ then raw log σ²). */
  readonly zChannels: number;
  /** GroupNorm groups; the reference hard-codes 32. Every level's channel count must be divisible by it. */
  readonly numGroups: number;
}

/**
 * Presets. `paper` is the authors' 256² UNet; `cpu32` (28–32 px, f=4), `tiny32` (the same shape at a
 * quarter of the width, ~2.5× fewer FLOPs: minutes of training on two cores) and `cpu64` (64 px, f=8)
 * are CPU-sized.
 */
export const unetPresets = {
  paper: { resolution: 256, inChannels: 3, outChannels: 3, ch: 128, chMult: [1, 2, 4, 4], numResBlocks: 2, attnResolutions: [32], zChannels: 16, numGroups: 32 },
  cpu32: { resolution: 32, inChannels: 3, outChannels: 3, ch: 32, chMult: [1, 2, 2], numResBlocks: 1, attnResolutions: [], zChannels: 4, numGroups: 32 },
  tiny32: { resolution: 32, inChannels: 3, outChannels: 3, ch: 16, chMult: [1, 2, 4], numResBlocks: 1, attnResolutions: [], zChannels: 4, numGroups: 16 },
  cpu64: { resolution: 64, inChannels: 3, outChannels: 3, ch: 32, chMult: [1, 2, 2, 4], numResBlocks: 1, attnResolutions: [8], zChannels: 16, numGroups: 32 },
} as const satisfies Record<string, UnetConfig>;

export type UnetPresetName = keyof typeof unetPresets;

/** Spatial downsampling factor f = 2^(levels − 1). */
export function downsamplingFactor(config: UnetConfig): number {
  return 2 ** (config.chMult.length - 1);
}

function positiveInt(value: unknown): boolean {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0;
}

/** Throw VaeUnetError('bad-config') unless the config is usable. */
export function validateUnetConfig(config: UnetConfig, fn = 'validateUnetConfig'): void {
  const fail = (what: string, got: unknown): never => {
    throw new VaeUnetError('bad-config', `${fn}: ${what}, got ${JSON.stringify(got)}`);
  };
  for (const key of ['resolution', 'inChannels', 'outChannels', 'ch', 'numResBlocks', 'zChannels', 'numGroups'] as const) {
    if (!positiveInt(config[key])) fail(`config.${key} must be a positive integer`, config[key]);
  }
  if (!Array.isArray(config.chMult) || config.chMult.length === 0 || !config.chMult.every(positiveInt)) {
    fail('config.chMult must be a non-empty list of positive integers', config.chMult);
  }
  if (!Array.isArray(config.attnResolutions) || !config.attnResolutions.every(positiveInt)) {
    fail('config.attnResolutions must be a list of positive integers', config.attnResolutions);
  }
  for (const mult of [1, ...config.chMult]) {
    if ((config.ch * mult) % config.numGroups !== 0) {
      fail(`every level's channels (ch·mult) must be divisible by numGroups=${config.numGroups}`, { ch: config.ch, chMult: config.chMult });
    }
  }
}

/** Convert the reference's constructor dict (`ch_mult`, `z_channels`, …) to a UnetConfig. */
export function unetConfigFromReference(params: Readonly<Record<string, unknown>>): UnetConfig {
  const config: UnetConfig = {
    resolution: params.resolution as number,
    inChannels: params.in_channels as number,
    outChannels: params.out_ch as number,
    ch: params.ch as number,
    chMult: params.ch_mult as number[],
    numResBlocks: params.num_res_blocks as number,
    attnResolutions: (params.attn_resolutions ?? []) as number[],
    zChannels: params.z_channels as number,
    numGroups: 32,
  };
  if (params.double_z === false) {
    throw new VaeUnetError('bad-config', 'unetConfigFromReference: double_z must be true for a Gaussian VAE, got false');
  }
  if (params.attn_type !== undefined && params.attn_type !== 'vanilla') {
    throw new VaeUnetError('bad-config', `unetConfigFromReference: attn_type must be 'vanilla', got ${JSON.stringify(params.attn_type)}`);
  }
  validateUnetConfig(config, 'unetConfigFromReference');
  return config;
}
