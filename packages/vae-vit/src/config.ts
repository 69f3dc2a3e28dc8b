import { VaeVitError } from './errors.js';

/**
 * The reference's `pit.modules.vit.TransformerEncoder`/`TransformerDecoder` arguments, camel-cased,
 * with its defaults fixed: one frame, ln_pre and ln_post on, GELU, LayerNorm, no mask, no
 * LayerScale, decoder `use_ffn_output=True` and `logit_laplace=False`. Images have 3 channels.
 */
export interface VitConfig {
  /** Square image side; the positional embedding has (imageSize/patchSize)² rows. */
  readonly imageSize: number;
  readonly patchSize: number;
  /** Transformer width D. */
  readonly width: number;
  readonly layers: number;
  readonly heads: number;
  /** MLP hidden size = ⌊width · mlpRatio⌋. */
  readonly mlpRatio: number;
  /** Latent channels C per token; the encoder emits 2C (μ then raw log σ²). */
  readonly zChannels: number;
  /** Decoder output MLP width (`dim_ffn_output`; the reference's default is 3072). */
  readonly dimFfnOutput: number;
}

/** Presets. `paper` is the authors' 256² BSQ-ViT; `cpu32` (32 px) and `cpu64` (64 px) are CPU-sized. */
export const vitPresets = {
  paper: { imageSize: 256, patchSize: 8, width: 768, layers: 12, heads: 12, mlpRatio: 4, zChannels: 16, dimFfnOutput: 3072 },
  cpu32: { imageSize: 32, patchSize: 4, width: 128, layers: 4, heads: 4, mlpRatio: 4, zChannels: 4, dimFfnOutput: 512 },
  cpu64: { imageSize: 64, patchSize: 8, width: 192, layers: 4, heads: 6, mlpRatio: 4, zChannels: 16, dimFfnOutput: 768 },
} as const satisfies Record<string, VitConfig>;

export type VitPresetName = keyof typeof vitPresets;

/** Tokens per image L = (imageSize/patchSize)². */
export function tokenCount(config: VitConfig): number {
  return (config.imageSize / config.patchSize) ** 2;
}

/** MLP hidden width, truncated as Python's int(). */
export function mlpWidth(config: VitConfig): number {
  return Math.floor(config.width * config.mlpRatio);
}

function positiveInt(value: unknown): boolean {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0;
}

/** Throw VaeVitError('bad-config') unless the config is usable. */
export function validateVitConfig(config: VitConfig, fn = 'validateVitConfig'): void {
  const fail = (what: string, got: unknown): never => {
    throw new VaeVitError('bad-config', `${fn}: ${what}, got ${JSON.stringify(got)}`);
  };
  for (const key of ['imageSize', 'patchSize', 'width', 'layers', 'heads', 'zChannels', 'dimFfnOutput'] as const) {
    if (!positiveInt(config[key])) fail(`config.${key} must be a positive integer`, config[key]);
  }
  if (typeof config.mlpRatio !== 'number' || !(config.mlpRatio > 0) || mlpWidth(config) < 1) {
    fail('config.mlpRatio must be positive with width·mlpRatio ≥ 1', config.mlpRatio);
  }
  if (config.imageSize % config.patchSize !== 0) {
    fail(`config.imageSize must be divisible by patchSize=${config.patchSize}`, config.imageSize);
  }
  if (config.width % config.heads !== 0) fail(`config.width must be divisible by heads=${config.heads}`, config.width);
}

/**
 * Convert the reference's constructor dict (`image_size`, `z_channels`, …) to a VitConfig. Pass
 * the decoder's dict (or the shared one) so `dim_ffn_output` is read; it defaults to 3072.
 */
export function vitConfigFromReference(params: Readonly<Record<string, unknown>>): VitConfig {
  const config: VitConfig = {
    imageSize: params.image_size as number,
    patchSize: params.patch_size as number,
    width: params.width as number,
    layers: params.layers as number,
    heads: params.heads as number,
    mlpRatio: params.mlp_ratio as number,
    zChannels: params.z_channels as number,
    dimFfnOutput: (params.dim_ffn_output ?? 3072) as number,
  };
  if (params.double_z === false) throw new VaeVitError('bad-config', 'vitConfigFromReference: double_z must be true for a Gaussian VAE, got false');
  const unsupported: [string, unknown][] = [
    ['num_frames', 1], ['ln_pre', true], ['ln_post', true], ['act_layer', 'gelu'], ['norm_layer', 'layer_norm'],
    ['mask_type', 'none'], ['ls_init_value', null], ['use_ffn_output', true], ['logit_laplace', false],
  ];
  for (const [key, supported] of unsupported) {
    if (params[key] !== undefined && params[key] !== supported) {
      throw new VaeVitError('bad-config', `vitConfigFromReference: ${key} must be ${JSON.stringify(supported)}, got ${JSON.stringify(params[key])}`);
    }
  }
  validateVitConfig(config, 'vitConfigFromReference');
  return config;
}
