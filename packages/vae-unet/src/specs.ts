import { conv2dSpecs, normSpecs, type ParamSpec } from '@gq/nn';
import type { UnetConfig } from './config.js';

/** One level of the encoder or decoder: its ResnetBlocks' channels and what follows them. */
export interface LevelPlan {
  readonly index: number;
  readonly blocks: readonly { readonly inChannels: number; readonly outChannels: number }[];
  readonly attention: boolean;
  /** Encoder: a stride-2 Downsample follows. Decoder: an Upsample follows. */
  readonly resample: boolean;
}

/** Encoder levels in execution order (level 0 = full resolution first), as the reference builds them. */
export function encoderPlan(config: UnetConfig): LevelPlan[] {
  const levels: LevelPlan[] = [];
  const n = config.chMult.length;
  let currentResolution = config.resolution;
  let blockIn = config.ch;
  for (let i = 0; i < n; i++) {
    const blockOut = config.ch * config.chMult[i]!;
    const blocks = [];
    for (let j = 0; j < config.numResBlocks; j++) {
      blocks.push({ inChannels: blockIn, outChannels: blockOut });
      blockIn = blockOut;
    }
    levels.push({ index: i, blocks, attention: config.attnResolutions.includes(currentResolution), resample: i !== n - 1 });
    if (i !== n - 1) currentResolution = Math.floor(currentResolution / 2);
  }
  return levels;
}

/** Decoder levels in execution order (lowest resolution first, so `up.0` runs last), each with numResBlocks + 1 blocks. */
export function decoderPlan(config: UnetConfig): LevelPlan[] {
  const levels: LevelPlan[] = [];
  const n = config.chMult.length;
  let currentResolution = Math.floor(config.resolution / 2 ** (n - 1));
  let blockIn = config.ch * config.chMult[n - 1]!;
  for (let i = n - 1; i >= 0; i--) {
    const blockOut = config.ch * config.chMult[i]!;
    const blocks = [];
    for (let j = 0; j <= config.numResBlocks; j++) {
      blocks.push({ inChannels: blockIn, outChannels: blockOut });
      blockIn = blockOut;
    }
    levels.push({ index: i, blocks, attention: config.attnResolutions.includes(currentResolution), resample: i !== 0 });
    if (i !== 0) currentResolution *= 2;
  }
  return levels;
}

function resnetSpecs(name: string, inChannels: number, outChannels: number): ParamSpec[] {
  return [
    ...normSpecs(`${name}.norm1`, inChannels),
    ...conv2dSpecs(`${name}.conv1`, inChannels, outChannels, 3),
    ...normSpecs(`${name}.norm2`, outChannels),
    ...conv2dSpecs(`${name}.conv2`, outChannels, outChannels, 3),
    ...(inChannels !== outChannels ? conv2dSpecs(`${name}.nin_shortcut`, inChannels, outChannels, 1) : []),
  ];
}

function attentionSpecs(name: string, channels: number): ParamSpec[] {
  return [
    ...normSpecs(`${name}.norm`, channels),
    ...conv2dSpecs(`${name}.q`, channels, channels, 1),
    ...conv2dSpecs(`${name}.k`, channels, channels, 1),
    ...conv2dSpecs(`${name}.v`, channels, channels, 1),
    ...conv2dSpecs(`${name}.proj_out`, channels, channels, 1),
  ];
}

function levelSpecs(prefix: string, level: LevelPlan, resampleName: 'downsample' | 'upsample'): ParamSpec[] {
  const specs: ParamSpec[] = [];
  level.blocks.forEach((block, j) => specs.push(...resnetSpecs(`${prefix}.block.${j}`, block.inChannels, block.outChannels)));
  if (level.attention) {
    level.blocks.forEach((block, j) => specs.push(...attentionSpecs(`${prefix}.attn.${j}`, block.outChannels)));
  }
  if (level.resample) {
    const channels = level.blocks[level.blocks.length - 1]!.outChannels;
    specs.push(...conv2dSpecs(`${prefix}.${resampleName}.conv`, channels, channels, 3));
  }
  return specs;
}

/** Encoder parameters in the reference's state_dict order, keys prefixed `encoder.`. */
export function encoderSpecs(config: UnetConfig): ParamSpec[] {
  const top = config.ch * config.chMult[config.chMult.length - 1]!;
  const specs = conv2dSpecs('encoder.conv_in', config.inChannels, config.ch, 3);
  for (const level of encoderPlan(config)) specs.push(...levelSpecs(`encoder.down.${level.index}`, level, 'downsample'));
  specs.push(...resnetSpecs('encoder.mid.block_1', top, top), ...resnetSpecs('encoder.mid.block_2', top, top));
  specs.push(...normSpecs('encoder.norm_out', top), ...conv2dSpecs('encoder.conv_out', top, 2 * config.zChannels, 3));
  return specs;
}

/** Decoder parameters in the reference's state_dict order (`up.0` … `up.n−1`), keys prefixed `decoder.`. */
export function decoderSpecs(config: UnetConfig): ParamSpec[] {
  const top = config.ch * config.chMult[config.chMult.length - 1]!;
  const specs = conv2dSpecs('decoder.conv_in', config.zChannels, top, 3);
  specs.push(...resnetSpecs('decoder.mid.block_1', top, top), ...resnetSpecs('decoder.mid.block_2', top, top));
  const levels = decoderPlan(config).sort((a, b) => a.index - b.index);
  for (const level of levels) specs.push(...levelSpecs(`decoder.up.${level.index}`, level, 'upsample'));
  specs.push(...normSpecs('decoder.norm_out', config.ch), ...conv2dSpecs('decoder.conv_out', config.ch, config.outChannels, 3));
  return specs;
}

/** All parameters, encoder first, in state_dict order. */
export function unetSpecs(config: UnetConfig): ParamSpec[] {
  return [...encoderSpecs(config), ...decoderSpecs(config)];
}
