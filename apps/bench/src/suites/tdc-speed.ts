import type { Table } from '../report.js';
import { benchConfig, runId, speedRunId, withTrainedModel, type BenchContext, type TrainingRecord } from '../runs.js';
import { analyseGaussian } from '../analysis.js';
import { REFERENCE_TDC_FACTOR } from '@gq/training';
import { SuiteRun, type SuiteOutput } from '../suite.js';
import { linePlot } from '../svg.js';

export interface TdcSpeedResult {
  readonly factor: number;
  readonly steps: number;
  readonly meanBits: number;
  readonly inBand: number;
  readonly psnrMean: number;
  readonly psnrSample: number;
  readonly psnrGq: number;
  readonly training: TrainingRecord;
}

/** The share of tokens in band that a run must reach to count as engaged. */
const engagedShare = 0.8;

/** The smallest γ whose run reaches `engagedShare` at the fewest steps (ties: the smaller γ), or undefined. */
export function fastestEngaging(results: readonly TdcSpeedResult[]): TdcSpeedResult | undefined {
  return [...results].filter((r) => r.inBand >= engagedShare).sort((a, b) => a.steps - b.steps || a.factor - b.factor)[0];
}

/**
 * How fast TDC engages: one UNet GQ model per update factor γ, evaluated after each step count (the
 * same run continued), giving the in-band share, the mean rate and what the conversion costs.
 */
export async function tdcSpeedSuite(ctx: BenchContext): Promise<SuiteOutput> {
  const run = new SuiteRun(ctx, 'tdc-speed');
  const { factors, steps } = ctx.size.tdcSpeed;
  const ascending = [...steps].sort((a, b) => a - b);
  const results: TdcSpeedResult[] = [];
  for (const factor of factors) {
    // One run folder per γ: each longer step count continues the same run (a step count another
    // suite has trained in full is loaded from there: see `sourceRun`).
    for (const count of ascending) {
      const config = benchConfig(ctx, 'unet', { method: 'gq', bits: ctx.size.tdcBits, tdcFactor: factor, steps: count });
      ctx.log(`tdc-speed: γ = ${factor}, ${count} steps`);
      results.push(
        await run.config(`${runId(config)}-speed`, () =>
          withTrainedModel(
            ctx,
            config,
            async (model) => {
              const a = await analyseGaussian(model, [config.codebookBits]);
              return {
                factor,
                steps: count,
                meanBits: a.tokenBits.mean,
                inBand: a.tokenBits.inBandFraction ?? 0,
                psnrMean: a.mean.psnr,
                psnrSample: a.sample.psnr,
                psnrGq: a.conversions[0]!.psnr,
                training: model.training,
              } satisfies TdcSpeedResult;
            },
            speedRunId(config),
          ),
        ),
      );
    }
  }
  const table: Table = {
    title: `How fast TDC engages (UNet GQ, T = ${ctx.size.tdcBits} bits; the reference's γ is ${REFERENCE_TDC_FACTOR})`,
    columns: ['γ', 'steps', 'R̄ bits', 'in band %', 'PSNR μ', 'PSNR sample', 'PSNR GQ', 'sample − GQ dB'],
    digits: [2, 0, 2, 1, 2, 2, 2, 2],
    rows: results.map((r) => [r.factor, r.steps, r.meanBits, r.inBand * 100, r.psnrMean, r.psnrSample, r.psnrGq, r.psnrSample - r.psnrGq]),
  };
  const svgs = {
    'tdc-speed.svg': linePlot({
      title: 'Tokens in band vs training steps, per update factor γ',
      xLabel: 'steps',
      yLabel: 'tokens in band (%)',
      series: factors.map((factor) => ({ name: `γ = ${factor}`, points: results.filter((r) => r.factor === factor).map((r) => [r.steps, r.inBand * 100] as const) })),
    }),
  };
  const best = fastestEngaging(results);
  return run.finish({
    tables: [table],
    plots: [{ file: 'tdc-speed.svg', title: 'TDC engagement vs γ' }],
    svgs,
    results,
    notes: [
      best === undefined
        ? `No γ reached ${engagedShare * 100}% of tokens in band within ${ascending.at(-1)} steps.`
        : `Fastest to ${engagedShare * 100}% in band: γ = ${best.factor} at ${best.steps} steps (sample − GQ ${(best.psnrSample - best.psnrGq).toFixed(2)} dB); the reference's γ = ${REFERENCE_TDC_FACTOR} suits runs of 10^5 steps.`,
    ],
  });
}
