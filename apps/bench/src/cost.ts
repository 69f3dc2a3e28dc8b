import { REFERENCE_TDC_FACTOR } from '@gq/training';
import type { SuiteName } from './report.js';
import { stepsOf, type Arch, type SizeProfile } from './sizes.js';
import { rdMethods } from './suites/rd.js';
import { tdcMethods } from './suites/tdc.js';
import { tokenBridgeMethods } from './suites/tokenbridge.js';

/** What one suite trains at a size: models and optimiser steps per backbone, and what it reuses. */
export interface SuiteCost {
  readonly suite: SuiteName;
  /** Models the suite trains itself (a continued run counts once). */
  readonly models: Readonly<Record<Arch, number>>;
  /** Optimiser steps over those models. */
  readonly steps: Readonly<Record<Arch, number>>;
  /** What the suite reuses instead of training, or what the estimate leaves out. */
  readonly note?: string;
  /** Results each model yields (tdc-speed: one per step count of its continued run); default 1. */
  readonly resultsPerModel?: number;
  /** Training runs of the suite's results that another suite trains (counted there, not here): how many, and which in words. */
  readonly shared?: { readonly runs: number; readonly text: string };
  /** Whether a kept result of the suite belongs to a model it trains itself (default: all do). */
  readonly ownResult?: (key: string) => boolean;
}

/**
 * The training each suite does at `size`, counted from the size's grid exactly as the suites walk
 * it (evaluation and conversions are not counted: they take seconds per model).
 */
export function suiteCosts(size: SizeProfile): SuiteCost[] {
  const unet = (models: number, steps = size.steps): { models: Record<Arch, number>; steps: Record<Arch, number> } => ({ models: { unet: models, vit: 0 }, steps: { unet: models * steps, vit: 0 } });
  const rdPerArch = size.rdBits.length * rdMethods.length * size.seeds;
  const rdModels = (arch: Arch): number => (size.rdArchs.includes(arch) ? rdPerArch : 0);
  const reuse = { models: { unet: 0, vit: 0 }, steps: { unet: 0, vit: 0 } };
  return [
    { suite: 'rd', models: { unet: rdModels('unet'), vit: rdModels('vit') }, steps: { unet: rdModels('unet') * stepsOf(size, 'unet'), vit: rdModels('vit') * stepsOf(size, 'vit') } },
    tdcCost(size, unet),
    { suite: 'k-sweep', ...unet(1) },
    { suite: 'm-sweep', ...unet(size.mSweep.dims.length) },
    { suite: 'tokenbridge', ...unet(tokenBridgeMethods.length * size.seeds) },
    { suite: 'beta', ...reuse, note: "converts rd's UNet GQ models (retrained only where runs/ lacks them)" },
    { suite: 'seeds', ...reuse, note: "converts rd's UNet GQ models (retrained only where runs/ lacks them)" },
    { suite: 'controller', ...reuse, note: "reads the training logs of tdc's TDC models (retrained only where runs/ lacks them)" },
    tdcSpeedCost(size),
    { suite: 'speed', ...reuse, note: 'timings of a few minutes, not estimated' },
  ];
}

/**
 * The tdc suite's models: its TDC ('gq') models are rd's UNet GQ models when rd trains T = tdcBits on
 * the UNet (the same configuration, trained once), so only the other rate controls count here.
 */
function tdcCost(size: SizeProfile, unet: (models: number) => Pick<SuiteCost, 'models' | 'steps'>): SuiteCost {
  const sharedWithRd = size.rdArchs.includes('unet') && size.rdBits.includes(size.tdcBits);
  if (!sharedWithRd) return { suite: 'tdc', ...unet(tdcMethods.length * size.seeds) };
  return {
    suite: 'tdc',
    ...unet((tdcMethods.length - 1) * size.seeds),
    shared: { runs: size.seeds, text: `its ${size.seeds} TDC model(s) are rd's UNet GQ models at ${size.tdcBits} bits` },
    // Keys name the method after the backbone: 'unet-gq-b8-…' is the TDC model, 'unet-gq-global-b8-…' another.
    ownResult: (key) => !key.startsWith('unet-gq-b'),
  };
}

/**
 * The tdc-speed suite's models: one run per γ, continued through the step counts. The run at the
 * size's own γ reaching the size's UNet steps ends on rd's UNet GQ model at T = tdcBits, seed 0
 * (the same configuration): that last stretch is loaded from rd's run (`sourceRun`), not trained.
 */
function tdcSpeedCost(size: SizeProfile): SuiteCost {
  const { factors, steps } = size.tdcSpeed;
  const descending = [...steps].sort((a, b) => b - a);
  const longest = descending[0]!;
  const sharedWithRd =
    size.rdArchs.includes('unet') && size.rdBits.includes(size.tdcBits) && longest === stepsOf(size, 'unet') && factors.includes(size.tdcFactor ?? REFERENCE_TDC_FACTOR);
  const saved = sharedWithRd ? longest - (descending[1] ?? 0) : 0;
  return {
    suite: 'tdc-speed',
    models: { unet: factors.length, vit: 0 },
    steps: { unet: factors.length * longest - saved, vit: 0 },
    resultsPerModel: steps.length,
    ...(sharedWithRd
      ? { shared: { runs: 1, text: `its γ = ${size.tdcFactor ?? REFERENCE_TDC_FACTOR} run's ${longest}-step model is rd's UNet GQ model at ${size.tdcBits} bits, seed 0` } }
      : {}),
  };
}

/** Seconds per step of each backbone: the committed results' own mean where they have one, else the size's measured figure. */
export type StepSeconds = Partial<Readonly<Record<Arch, number>>>;

/** Estimated training seconds of `cost` (undefined where a backbone it trains has no seconds-per-step figure). */
export function estimatedSeconds(cost: SuiteCost, perStep: StepSeconds): number | undefined {
  let total = 0;
  for (const arch of ['unet', 'vit'] as const) {
    if (cost.steps[arch] === 0) continue;
    const seconds = perStep[arch];
    if (seconds === undefined) return undefined;
    total += cost.steps[arch] * seconds;
  }
  return total;
}

/** Estimated training seconds of all of `costs` (undefined when any is unknown). */
export function totalSeconds(costs: readonly SuiteCost[], perStep: StepSeconds): number | undefined {
  let total = 0;
  for (const cost of costs) {
    const seconds = estimatedSeconds(cost, perStep);
    if (seconds === undefined) return undefined;
    total += seconds;
  }
  return total;
}

/** Hours with one decimal (minutes below an hour), or 'unknown'. */
export function hours(seconds: number | undefined): string {
  if (seconds === undefined) return 'unknown';
  return seconds < 3600 ? `${Math.ceil(seconds / 60)} min` : `${(seconds / 3600).toFixed(1)} h`;
}
