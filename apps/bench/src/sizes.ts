import type { BackendName } from '@gq/runtime';
import type { UnetConfig } from '@gq/vae-unet';
import type { VitConfig } from '@gq/vae-vit';
import { BenchError } from './errors.js';
import type { SuiteName } from './report.js';

export type Arch = 'unet' | 'vit';

/**
 * Everything that sets the cost of a run. `quick` is the CI smoke size (seconds per suite),
 * `small` a real run of tens of minutes on two shared cores (the one RESULTS.md is built from),
 * `medium` the 32×32 presets on both backbones, sized to 6–10 hours of two cores (see
 * `mediumCost` below), `medium-photos` the same on natural photographs, and `full` the issue's
 * largest size: many hours on two cores.
 */
export interface SizeProfile {
  readonly name: string;
  readonly dataset: string;
  readonly steps: number;
  /** Optimiser steps of ViT models, where they differ from `steps` (the ViT's step costs several UNet steps). */
  readonly vitSteps?: number;
  readonly batchSize: number;
  readonly learningRate: number;
  readonly testImages: number;
  readonly unet: { readonly preset: string; readonly model: Partial<UnetConfig> };
  readonly vit: { readonly preset: string; readonly model: Partial<VitConfig> };
  /** rd: bits per latent position, and the backbones compared. */
  readonly rdBits: readonly number[];
  readonly rdArchs: readonly Arch[];
  /**
   * TDC update factor γ of every TDC model (tdc-speed sets its own). Default: the training default,
   * the reference's γ. λ_max grows by ×γ per step, so it reaches 100 after ln(100)/ln γ steps.
   */
  readonly tdcFactor?: number;
  /**
   * Training seconds per optimiser step of each backbone at this size on two wasm workers, as
   * measured (`measured` says how) for the cost estimate of missing configurations; results already
   * committed at this size replace it with their own mean.
   */
  readonly secondsPerStep?: { readonly unet: number; readonly vit: number; readonly measured: string };
  /** tdc: bits per position of the GQ (m = C, G = 1) models compared. */
  readonly tdcBits: number;
  /** k-sweep: an m = 1 TDC model at T bits per dimension, converted with log2 K ∈ [T − span, T + span] ∩ [1, 24]. */
  readonly kSweep: { readonly target: number; readonly span: number };
  /** m-sweep: C latent channels at 1 bit per dimension (C bits per position), m ∈ dims. */
  readonly mSweep: { readonly channels: number; readonly dims: readonly number[] };
  /** tokenbridge: B bits per channel, m = 1. */
  readonly tokenBridgeBits: number;
  /** Training seeds of every quality cell (rd, tdc, tokenbridge; beta and seeds reuse rd's models). */
  readonly seeds: number;
  /**
   * The suites this size runs, where it runs only some (e.g. a second dataset that repeats the
   * quality suites): 'all' and the report mean these; a suite named outside them is refused.
   */
  readonly suites?: readonly SuiteName[];
  /** tdc-speed: TDC update factors γ, each trained once and evaluated after each step count (ascending). */
  readonly tdcSpeed: { readonly factors: readonly number[]; readonly steps: readonly number[] };
  readonly speed: {
    /** GQ search queries N, codebook size K and token dimension m of the headline comparison. */
    readonly rows: number;
    readonly size: number;
    readonly dim: number;
    /** Rows the naive N×K×m formulation is timed on (it is ~100× slower). */
    readonly naiveRows: number;
    /** Queries of the m = 1 comparison (sorted vs exhaustive). */
    readonly scalarRows: number;
    /** Timed training steps after one warm-up step, per (backend, workers). */
    readonly trainSteps: number;
    readonly trainBackends: readonly BackendName[];
    /** Images per encode/decode call of the tokenizer throughput test. */
    readonly tokenizerImages: number;
    readonly tokenizerBackends: readonly BackendName[];
    readonly searchBackends: readonly BackendName[];
  };
}

/** A 16-px UNet with f = 2 (8×8 latent grid) and a quarter of tiny32's width. */
const unet16: Partial<UnetConfig> = { resolution: 16, ch: 16, chMult: [1, 2], numResBlocks: 1, attnResolutions: [], zChannels: 4, numGroups: 16 };
/** A 16-px ViT with 4-px patches (4×4 tokens), one block. */
const vit16: Partial<VitConfig> = { imageSize: 16, patchSize: 4, width: 32, layers: 1, heads: 2, mlpRatio: 2, zChannels: 4, dimFfnOutput: 32 };

/** The speed suite of `small` and `medium`: the headline search size, wasm only. */
const smallSpeed: SizeProfile['speed'] = {
  rows: 1024,
  size: 65536,
  dim: 16,
  naiveRows: 32,
  scalarRows: 4096,
  trainSteps: 4,
  trainBackends: ['wasm'],
  tokenizerImages: 64,
  tokenizerBackends: ['wasm'],
  searchBackends: ['wasm'],
};

/**
 * `medium`'s steps (both backbones): the fewest of the tdc-speed grid at which TDC
 * (reference γ = 1.01, batch 16) holds ≥ 80 % of held-out tokens in band. Measured on the UNet GQ
 * model at T = 8: 19.6 / 43.3 / 66.5 / 76.0 / 82.2 % in band after 200 / 400 / 700 / 1000 / 1300 steps,
 * with decode(μ + σε) − decode(GQ) 0.13–0.27 dB throughout.
 */
const MEDIUM_STEPS = 1300;
/**
 * `medium-photos`'s steps: TDC engages more slowly on photographs. tdc-speed (UNet GQ, T = 8, γ = 1.01,
 * seed 0) held 26.4 / 53.1 / 70.5 / 41.0 / 90.1 % of held-out tokens in band after 1300 / 2000 / 2600 /
 * 3300 / 4000 steps (at 3300 the held-out mean rate had swung to 7.49 bits; the training batches'
 * share rose steadily, 46 % at 1300 and 81 % from 3200 on).
 */
const PHOTOS_STEPS = 4000;
/**
 * Seconds per step of the 32×32 presets at batch 16 on two quiet wasm workers: UNet tiny32 from the
 * main job (1400 steps in 332 s), ViT cpu32 from it times the engine bench's ViT/UNet ratio of
 * two-worker steps at batch 32 (636 / 493 ms). Kept results replace them with their own means.
 */
const MEDIUM_SECONDS_PER_STEP = { unet: 0.24, vit: 0.31, measured: 'main job (UNet) and engine bench ratio (ViT), batch 16, 2 quiet workers' };

/**
 * `medium`: the 32×32 presets (UNet tiny32, ViT cpu32) on both backbones, 2 rates, 3 seeds, at the
 * reference γ = 1.01: a faster γ did not engage TDC sooner at this size (in band after 700 steps:
 * 66.5 % at γ = 1.01, 63.1 % at 1.03, 59.0 % at 1.05; tdc-speed), so UNet models train
 * MEDIUM_STEPS, and so do the ViT models (a ViT step costs about 1.3 UNet steps). Cost per
 * suite: the Cost table of every RESULTS.md.
 */
const medium: SizeProfile = {
  name: 'medium',
  dataset: 'sample',
  steps: MEDIUM_STEPS,
  batchSize: 16,
  learningRate: 1e-3,
  testImages: 256,
  unet: { preset: 'tiny32', model: {} },
  vit: { preset: 'cpu32', model: {} },
  rdBits: [4, 8],
  rdArchs: ['unet', 'vit'],
  secondsPerStep: MEDIUM_SECONDS_PER_STEP,
  tdcBits: 8,
  kSweep: { target: 4, span: 3 },
  mSweep: { channels: 8, dims: [1, 2, 4, 8] },
  tokenBridgeBits: 2,
  seeds: 3,
  tdcSpeed: { factors: [1.01, 1.03, 1.05], steps: [200, 400, 700, MEDIUM_STEPS] },
  speed: smallSpeed,
  // The speed suite's sizes are small's (`smallSpeed`), so it is measured there once.
  suites: ['rd', 'tdc', 'k-sweep', 'm-sweep', 'tokenbridge', 'beta', 'seeds', 'controller', 'tdc-speed'],
};

export const sizes: Readonly<Record<string, SizeProfile>> = {
  quick: {
    name: 'quick',
    dataset: 'sample',
    steps: 2,
    batchSize: 4,
    learningRate: 2e-3,
    testImages: 8,
    unet: { preset: 'tiny32', model: { ...unet16, ch: 8, numGroups: 8 } },
    vit: { preset: 'cpu32', model: { ...vit16, width: 16, dimFfnOutput: 16 } },
    rdBits: [4],
    rdArchs: ['unet', 'vit'],
    tdcBits: 4,
    kSweep: { target: 2, span: 1 },
    mSweep: { channels: 4, dims: [1, 4] },
    tokenBridgeBits: 1,
    seeds: 2,
    tdcSpeed: { factors: [1.01, 1.05], steps: [1, 2] },
    speed: {
      rows: 64,
      size: 1024,
      dim: 16,
      naiveRows: 16,
      scalarRows: 256,
      trainSteps: 1,
      trainBackends: ['wasm'],
      tokenizerImages: 4,
      tokenizerBackends: ['wasm', 'cpu'],
      searchBackends: ['wasm', 'cpu'],
    },
  },
  small: {
    name: 'small',
    dataset: 'sample',
    steps: 400,
    batchSize: 8,
    learningRate: 2e-3,
    testImages: 128,
    unet: { preset: 'tiny32', model: unet16 },
    vit: { preset: 'cpu32', model: vit16 },
    rdBits: [4, 8],
    rdArchs: ['unet', 'vit'],
    tdcBits: 8,
    kSweep: { target: 4, span: 3 },
    mSweep: { channels: 8, dims: [1, 2, 4, 8] },
    tokenBridgeBits: 2,
    seeds: 3,
    tdcSpeed: { factors: [1.01, 1.02, 1.05], steps: [200, 400] },
    speed: smallSpeed,
  },
  medium,
  'medium-photos': {
    ...medium,
    name: 'medium-photos',
    dataset: 'photos',
    steps: PHOTOS_STEPS,
    // The ViT is compared on Fashion-MNIST; on photos its models would cost as much as the rest of the size.
    rdArchs: ['unet'],
    tdcSpeed: { factors: [1.01], steps: [MEDIUM_STEPS, 2000, 2600, 3300, PHOTOS_STEPS] },
    suites: ['rd', 'tdc', 'tdc-speed'],
  },
  full: {
    name: 'full',
    dataset: 'sample',
    steps: 2000,
    batchSize: 32,
    learningRate: 1e-3,
    testImages: 1000,
    unet: { preset: 'tiny32', model: {} },
    vit: { preset: 'cpu32', model: {} },
    rdBits: [4, 8, 16],
    rdArchs: ['unet', 'vit'],
    tdcBits: 8,
    kSweep: { target: 8, span: 4 },
    mSweep: { channels: 16, dims: [1, 2, 4, 8, 16] },
    tokenBridgeBits: 2,
    seeds: 3,
    tdcSpeed: { factors: [1.01, 1.02, 1.05], steps: [500, 1000, 2000] },
    speed: {
      rows: 1024,
      size: 65536,
      dim: 16,
      naiveRows: 128,
      scalarRows: 4096,
      trainSteps: 5,
      trainBackends: ['wasm', 'cpu'],
      tokenizerImages: 64,
      tokenizerBackends: ['wasm', 'cpu'],
      searchBackends: ['wasm', 'cpu'],
    },
  },
};

/** Optimiser steps of one model of `arch` at this size. */
export function stepsOf(size: SizeProfile, arch: Arch): number {
  return arch === 'vit' ? (size.vitSteps ?? size.steps) : size.steps;
}

export interface SizeOverrides {
  readonly steps?: number;
  readonly seeds?: number;
  readonly batchSize?: number;
  readonly testImages?: number;
  readonly dataset?: string;
  readonly learningRate?: number;
}

/** A reader's name for a size's dataset ('sample' is the bundled Fashion-MNIST sample). */
export function datasetLabel(dataset: string): string {
  if (dataset === 'sample') return 'Fashion-MNIST (bundled sample)';
  if (dataset.startsWith('photos')) return 'natural photos';
  return dataset;
}

export function sizeProfile(name: string, overrides: SizeOverrides = {}): SizeProfile {
  const base = sizes[name];
  if (base === undefined) throw new BenchError('bad-option', `--size must be one of ${Object.keys(sizes).join(', ')}, got '${name}'`);
  const defined = Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined));
  const changed = Object.keys(defined).length > 0;
  // --steps sets every backbone's steps.
  const { vitSteps: _vitSteps, ...withoutVitSteps } = base;
  return { ...(defined.steps !== undefined ? withoutVitSteps : base), ...defined, name: changed ? `${base.name}+${Object.entries(defined).map(([k, v]) => `${k}=${String(v)}`).join(',')}` : base.name };
}
