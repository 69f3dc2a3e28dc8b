import type { ClaimCheck, Table } from '../report.js';
import { analyseGaussian } from '../analysis.js';
import { benchConfig, runId, seedsOf, withTrainedModel, type BenchContext } from '../runs.js';
import { formatSummary, summarize, verdictOf } from '../stats.js';
import { SuiteRun, type SuiteOutput } from '../suite.js';

const codebookMethods = ['sobol', 'normal'] as const;

export interface SeedsResult {
  readonly seed: number;
  readonly codebookMethod: (typeof codebookMethods)[number];
  readonly psnr: number;
  readonly ssim: number;
  readonly usage: number;
}

/**
 * Claim 8: the codebook generator changes PSNR and SSIM only within run-to-run noise. The effect of
 * the generator is the mean over seeds of the paired difference sobol − normal; the noise is the
 * standard deviation over training seeds. Within one noise sd on both metrics holds; beyond three fails.
 */
export function claim8(results: readonly SeedsResult[]): ClaimCheck {
  const seeds = [...new Set(results.map((r) => r.seed))];
  const at = (seed: number, method: SeedsResult['codebookMethod']) => results.find((r) => r.seed === seed && r.codebookMethod === method)!;
  const metrics = (['psnr', 'ssim'] as const).map((metric) => {
    const effect = summarize(seeds.map((s) => at(s, 'sobol')[metric] - at(s, 'normal')[metric]));
    const noise = summarize(seeds.map((s) => at(s, 'sobol')[metric])).sd;
    return { metric, effect, noise };
  });
  const outcome =
    seeds.length < 2 ? 'unclear' : metrics.some((m) => Math.abs(m.effect.mean) > 3 * m.noise) ? 'fails' : metrics.every((m) => Math.abs(m.effect.mean) <= m.noise) ? 'holds' : 'unclear';
  return {
    claim: 8,
    statement: "Different seeds, and 'normal' vs 'sobol' codebooks, change PSNR and SSIM only within run-to-run noise",
    criterion: '|mean over seeds of (sobol − normal)| ≤ the sd over training seeds for PSNR and SSIM (holds); > 3 sd on either (fails); needs ≥ 2 seeds',
    measured: metrics
      .map((m) => `${m.metric.toUpperCase()}: sobol − normal ${formatSummary(m.effect, m.metric === 'psnr' ? 2 : 4)}, seed sd ${m.noise.toFixed(m.metric === 'psnr' ? 2 : 4)}`)
      .join('; '),
    verdict: verdictOf(outcome),
  };
}

/** The rd suite's UNet GQ models at the highest rd rate, every seed, converted with Sobol and with i.i.d. Gaussian codebooks. */
export async function seedsSuite(ctx: BenchContext): Promise<SuiteOutput> {
  const run = new SuiteRun(ctx, 'seeds');
  const bits = Math.max(...ctx.size.rdBits);
  const results: SeedsResult[] = [];
  for (const seed of seedsOf(ctx)) {
    const config = benchConfig(ctx, 'unet', { method: 'gq', bits, seed });
    ctx.log(`seeds: ${bits} bits/position, seed ${seed}, codebooks ${codebookMethods.join(' and ')}`);
    const measured = await run.config(`${runId(config)}-codebooks`, () =>
      withTrainedModel(ctx, config, async (model) => {
        const rows: SeedsResult[] = [];
        for (const codebookMethod of codebookMethods) {
          const c = (await analyseGaussian(model, [config.codebookBits], undefined, { codebookMethod })).conversions[0]!;
          rows.push({ seed, codebookMethod, psnr: c.psnr, ssim: c.ssim, usage: c.usage });
        }
        return { rows };
      }),
    );
    results.push(...measured.rows);
  }
  const table: Table = {
    title: `Seeds × codebook generator (UNet GQ at ${bits} bits/position; training seeds ${seedsOf(ctx).join(', ')})`,
    columns: ['codebook', 'PSNR GQ (mean ± sd over seeds)', 'SSIM GQ', 'usage %', ...seedsOf(ctx).map((s) => `PSNR seed ${s}`)],
    digits: [0, 0, 0, 0, ...seedsOf(ctx).map(() => 2)],
    rows: codebookMethods.map((method) => {
      const rs = results.filter((r) => r.codebookMethod === method);
      return [
        method,
        formatSummary(summarize(rs.map((r) => r.psnr))),
        formatSummary(summarize(rs.map((r) => r.ssim)), 4),
        formatSummary(summarize(rs.map((r) => r.usage * 100)), 1),
        ...rs.map((r) => r.psnr),
      ];
    }),
  };
  return run.finish({ tables: [table], plots: [], svgs: {}, claims: [claim8(results)], results, notes: ['The codebook seed is the run\'s (42); the generator only enters the conversion, so each trained model serves both.'] });
}
