import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Evaluation } from '@gq/training';
import { BenchError } from './errors.js';
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
  /** The suite, configuration key and size it was measured for (absent in results kept before they were recorded). */
  readonly suite?: SuiteName;
  readonly key?: string;
  readonly size?: string;
  readonly machine: MachineInfo;
  /** Wall time of the measurement (training that ran in that invocation included). */
  readonly measureSeconds: number;
}

/** Tracks cached vs fresh configurations of one suite invocation. */
export class SuiteRun {
  private readonly started = performance.now();
  measuredNow = 0;
  cached = 0;
  /** Cached configurations measured at another commit than the current one: key → commit. */
  readonly otherCommits = new Map<string, string>();
  readonly #commit = machineInfo('none').commit;

  constructor(
    readonly ctx: BenchContext,
    readonly suite: SuiteName,
  ) {}

  get dir(): string {
    return join(this.ctx.outDir, this.suite);
  }

  /** Where the result of configuration `key` is kept (see `BenchContext.resultsDir`). */
  resultPath(key: string): string {
    return this.ctx.resultsDir !== undefined ? join(this.ctx.resultsDir, this.suite, `${key}.json`) : join(this.dir, 'configs', `${key}.json`);
  }

  /** Whether this is a report-only run that lacks the kept result of `key` (a measuring run would measure it). */
  missingInReport(key: string): boolean {
    return this.ctx.reportOnly === true && !existsSync(this.resultPath(key));
  }

  /**
   * Measure one configuration unless its result is already kept (`resultPath`). In report-only mode
   * a missing result throws a `result-missing` BenchError instead of training anything.
   */
  async config<T extends object>(key: string, measure: () => Promise<T>): Promise<T & Measured> {
    const path = this.resultPath(key);
    if (this.missingInReport(key)) {
      throw new BenchError('result-missing', `${this.suite}: no kept result for configuration ${key} (${path}); run gq-bench ${this.suite} --size ${this.ctx.size.name} to measure it`);
    }
    const { value, fresh } = await cachedResult(path, async () => {
      const started = performance.now();
      const result = await measure();
      return { ...result, suite: this.suite, key, size: this.ctx.size.name, machine: machineInfo(this.ctx.backend), measureSeconds: (performance.now() - started) / 1000 };
    });
    if (fresh) this.measuredNow++;
    else {
      this.cached++;
      // A result is keyed by its configuration; the code that measured it is printed with it when it differs.
      const other = value.machine.commit !== this.#commit;
      if (other) this.otherCommits.set(key, value.machine.commit);
      this.ctx.log(`  ${key}: kept result${other ? ` (measured at ${value.machine.commit.slice(0, 10)})` : ''}`);
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
      notes: [
        ...(parts.notes ?? []),
        ...(this.otherCommits.size > 0
          ? [
              `${this.otherCommits.size} configuration(s) measured at an earlier commit than this report's (${this.#commit.slice(0, 10)}): ` +
                [...this.otherCommits].map(([key, commit]) => `${key} @ ${commit.slice(0, 10)}`).join(', '),
            ]
          : []),
      ],
    };
    return { report, svgs: parts.svgs };
  }
}

export const verdict = (holds: boolean, strong = true): ClaimCheck['verdict'] => (holds ? 'reproduces' : strong ? 'does not reproduce' : 'inconclusive');
