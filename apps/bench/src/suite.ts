import { join } from 'node:path';
import type { Evaluation } from '@gq/training';
import { machineInfo, type MachineInfo } from './machine.js';
import { cachedResult, type ClaimCheck, type PlotFile, type SuiteName, type SuiteReport, type Table } from './report.js';
import type { BenchContext } from './runs.js';

/** A suite's product: the report and its SVG files by name. */
export interface SuiteOutput {
  readonly report: SuiteReport;
  readonly svgs: Readonly<Record<string, string>>;
}

export type Suite = (ctx: BenchContext) => Promise<SuiteOutput>;

/** The reconstruction, usage and rate figures of a Gaussian model's evaluation that the sweep suites report. */
export interface GaussianScores {
  readonly images: number;
  /** decode(quantised μ). */
  readonly psnr: number;
  readonly ssim: number;
  /** decode(μ) and decode(μ + σε). */
  readonly psnrMean: number;
  readonly psnrSample: number;
  readonly usage: number;
  readonly perplexity: number;
  /** Mean per-token KL rate in bits. */
  readonly bitsMean: number;
}

/** The `GaussianScores` of an evaluation of a Gaussian method (one that reports μ, sample and rate). */
export function gaussianScores(e: Evaluation): GaussianScores {
  return {
    images: e.images,
    psnr: e.quantized.psnr,
    ssim: e.quantized.ssim,
    psnrMean: e.mean!.psnr,
    psnrSample: e.sample!.psnr,
    usage: e.usage.fraction,
    perplexity: e.usage.perplexity,
    bitsMean: e.bits!.mean,
  };
}

/** Every configuration result carries where, when and how long it was measured. */
export interface Measured {
  readonly machine: MachineInfo;
  /** Wall time of the measurement (training that ran in that invocation included). */
  readonly measureSeconds: number;
}

/** Tracks cached vs fresh configurations of one suite invocation. */
export class SuiteRun {
  private readonly started = performance.now();
  measuredNow = 0;
  cached = 0;

  constructor(
    readonly ctx: BenchContext,
    readonly suite: SuiteName,
  ) {}

  get dir(): string {
    return join(this.ctx.outDir, this.suite);
  }

  /** Measure one configuration unless `<suite>/configs/<key>.json` already holds its result. */
  async config<T extends object>(key: string, measure: () => Promise<T>): Promise<T & Measured> {
    const { value, fresh } = await cachedResult(join(this.dir, 'configs', `${key}.json`), async () => {
      const started = performance.now();
      const result = await measure();
      return { ...result, machine: machineInfo(this.ctx.backend), measureSeconds: (performance.now() - started) / 1000 };
    });
    if (fresh) this.measuredNow++;
    else {
      this.cached++;
      this.ctx.log(`  ${key}: cached result`);
    }
    return value;
  }

  finish(parts: {
    tables: Table[];
    plots: PlotFile[];
    svgs: Record<string, string>;
    claims?: ClaimCheck[];
    results: unknown[];
    notes?: string[];
  }): SuiteOutput {
    const report: SuiteReport = {
      suite: this.suite,
      size: this.ctx.size.name,
      command: this.ctx.command,
      machine: machineInfo(this.ctx.backend),
      wallSeconds: (performance.now() - this.started) / 1000,
      measuredNow: this.measuredNow,
      cached: this.cached,
      tables: parts.tables,
      plots: parts.plots,
      claims: parts.claims ?? [],
      results: parts.results,
      notes: parts.notes ?? [],
    };
    return { report, svgs: parts.svgs };
  }
}

export const verdict = (holds: boolean, strong = true): ClaimCheck['verdict'] => (holds ? 'reproduces' : strong ? 'does not reproduce' : 'inconclusive');
