import { describeBottleneck, evaluate, methodSpec, type Method } from '@gq/training';
import type { ClaimCheck, Table } from '../report.js';
import { benchConfig, runId, withEvaluation, type BenchContext, type TrainingRecord } from '../runs.js';
import type { Arch } from '../sizes.js';
import { SuiteRun, verdict, type SuiteOutput } from '../suite.js';
import { barPlot, linePlot } from '../svg.js';

/** The method whose claim the suite tests, then the baselines it is compared with. */
const ours: Method = 'gq';
export const rdMethods: readonly Method[] = [ours, 'vq', 'fsq', 'lfq', 'bsq'];

export interface RdResult {
  readonly arch: Arch;
  readonly method: Method;
  readonly bits: number;
  readonly bottleneck: string;
  readonly bitsPerPosition: number;
  readonly bpp: number;
  readonly images: number;
  readonly psnr: number;
  readonly ssim: number;
  /** decode(μ) and decode(μ + σε) of the Gaussian (GQ) model. */
  readonly psnrMean?: number;
  readonly psnrSample?: number;
  readonly codebookSize: number;
  readonly tokens: number;
  readonly used: number;
  readonly usage: number;
  readonly perplexity: number;
  readonly training: TrainingRecord;
}

/** Rate–distortion: GQ+TDC vs VQ, FSQ, LFQ and BSQ on the same backbone, data and steps at equal bits per position. */
export async function rdSuite(ctx: BenchContext): Promise<SuiteOutput> {
  const run = new SuiteRun(ctx, 'rd');
  const results: RdResult[] = [];
  for (const arch of ctx.size.rdArchs) {
    for (const bits of ctx.size.rdBits) {
      for (const method of rdMethods) {
        const config = benchConfig(ctx, arch, { method, bits });
        ctx.log(`rd: ${arch} ${method} at ${bits} bits/position (${describeBottleneck(config)})`);
        results.push(
          await run.config(runId(config), () =>
            withEvaluation(ctx, config, (e, training) => ({
                arch,
                method,
                bits,
                bottleneck: describeBottleneck(config),
                bitsPerPosition: e.rate.bitsPerPosition,
                bpp: e.rate.bpp,
                images: e.images,
                psnr: e.quantized.psnr,
                ssim: e.quantized.ssim,
                ...(e.mean !== undefined ? { psnrMean: e.mean.psnr } : {}),
                ...(e.sample !== undefined ? { psnrSample: e.sample.psnr } : {}),
                codebookSize: e.usage.codebookSize,
                tokens: e.usage.tokens,
                used: e.usage.used,
                usage: e.usage.fraction,
                perplexity: e.usage.perplexity,
                training,
              }) satisfies RdResult),
          ),
        );
      }
    }
  }

  const table: Table = {
    title: 'Rate–distortion at equal bits per position (held-out images; PSNR/SSIM of the quantised reconstruction)',
    columns: ['arch', 'method', 'bottleneck', 'bits/pos', 'bpp', 'PSNR dB', 'SSIM', 'usage %', 'perplexity', 'codebook size', 'steps', 'train s'],
    digits: [0, 0, 0, 2, 3, 2, 4, 1, 1, 0, 0, 0],
    rows: results.map((r) => [r.arch, r.method, r.bottleneck, r.bitsPerPosition, r.bpp, r.psnr, r.ssim, r.usage * 100, r.perplexity, r.codebookSize, r.training.steps, r.training.trainSeconds]),
  };
  const svgs: Record<string, string> = {};
  const plots = [];
  for (const arch of ctx.size.rdArchs) {
    const file = `rd-${arch}.svg`;
    svgs[file] = linePlot({
      title: `Rate–distortion, ${arch === 'unet' ? 'UNet' : 'ViT'} (${ctx.size.name})`,
      xLabel: 'bits per pixel',
      yLabel: 'PSNR (dB)',
      series: rdMethods.map((method) => ({
        name: methodSpec(method).shortLabel,
        points: results.filter((r) => r.arch === arch && r.method === method).map((r) => [r.bpp, r.psnr] as const),
      })),
    });
    plots.push({ file, title: `Rate–distortion, ${arch}` });
  }
  const groups = results.filter((r) => r.method === ours).map((r) => `${r.arch} ${r.bits}b`);
  svgs['rd-usage.svg'] = barPlot({
    title: 'Codebook usage over the evaluation set',
    xLabel: 'backbone, bits per position',
    yLabel: 'usage (%)',
    categories: groups,
    series: rdMethods.map((method) => ({
      name: methodSpec(method).shortLabel,
      values: results.filter((r) => r.method === method).map((r) => r.usage * 100),
    })),
  });
  plots.push({ file: 'rd-usage.svg', title: 'Codebook usage' });

  const claims: ClaimCheck[] = [];
  const wins: string[] = [];
  let gqBest = 0;
  let cells = 0;
  for (const arch of ctx.size.rdArchs) {
    for (const bits of ctx.size.rdBits) {
      const group = results.filter((r) => r.arch === arch && r.bits === bits);
      const best = group.reduce((a, b) => (b.psnr > a.psnr ? b : a));
      const gq = group.find((r) => r.method === ours)!;
      const runnerUp = group.filter((r) => r.method !== ours).reduce((a, b) => (b.psnr > a.psnr ? b : a));
      cells++;
      if (best.method === ours) gqBest++;
      wins.push(`${arch} ${bits}b: best ${best.method} ${best.psnr.toFixed(2)} dB, GQ − best other (${runnerUp.method}) = ${(gq.psnr - runnerUp.psnr).toFixed(2)} dB`);
    }
  }
  claims.push({
    claim: 9,
    statement: 'GQ gives the best PSNR at equal bits per position',
    criterion: 'GQ has the highest PSNR in every (backbone, bitrate) cell',
    measured: wins.join('; '),
    verdict: gqBest === cells ? 'reproduces' : gqBest === 0 ? 'does not reproduce' : 'inconclusive',
  });
  const usageRows = results.filter((r) => r.method === ours);
  const enoughTokens = usageRows.filter((r) => r.tokens >= 10 * r.codebookSize);
  const vqRows = results.filter((r) => r.method === 'vq');
  if (enoughTokens.length > 0) {
    claims.push({
      claim: 2,
      statement: 'GQ uses ≈100% of its codebook once the evaluation has ≫ K tokens; learned VQ at the same K uses less',
      criterion: 'GQ usage ≥ 95% where tokens ≥ 10·K, and VQ usage < GQ usage at the same K',
      measured: enoughTokens
        .map((g) => {
          const v = vqRows.find((r) => r.arch === g.arch && r.bits === g.bits);
          return `${g.arch} K=${g.codebookSize}: GQ ${(g.usage * 100).toFixed(1)}% (ppl ${g.perplexity.toFixed(1)}), VQ ${v !== undefined ? `${(v.usage * 100).toFixed(1)}% (ppl ${v.perplexity.toFixed(1)})` : 'n/a'}`;
        })
        .join('; '),
      verdict: verdict(
        enoughTokens.every((g) => {
          const v = vqRows.find((r) => r.arch === g.arch && r.bits === g.bits);
          return g.usage >= 0.95 && (v === undefined || v.usage < g.usage);
        }),
        false,
      ),
    });
  }
  return run.finish({
    tables: [table],
    plots,
    svgs,
    claims,
    results,
    notes: [
      'Every method trains the same backbone with the same data order, steps, batch and learning rate; only the bottleneck differs (ALGORITHMS §6).',
      'GQ models are Gaussian VAEs trained with TDC at T = log2 K and converted after training; the baselines train through their quantiser.',
    ],
  });
}
