import { describeBottleneck, methodSpec, type Method } from '@gq/training';
import type { ClaimCheck, Table } from '../report.js';
import { benchConfig, runId, seedsOf, withEvaluation, type BenchContext, type TrainingRecord } from '../runs.js';
import { datasetLabel, type Arch } from '../sizes.js';
import { compare, formatDifference, formatSummary, summarize, summarizeSeeds, verdictOf, type SeedSummary } from '../stats.js';
import { SuiteRun, type SuiteOutput } from '../suite.js';
import { barPlot, linePlot } from '../svg.js';

/** The method whose claim the suite tests, then the baselines it is compared with. */
const ours: Method = 'gq';
/** The learned-codebook baseline of claim 2. */
const learned: Method = 'vq';
export const rdMethods: readonly Method[] = [ours, learned, 'fsq', 'lfq', 'bsq'];

export interface RdResult {
  readonly arch: Arch;
  readonly method: Method;
  readonly bits: number;
  readonly seed: number;
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

/** One (backbone, bits, method) cell summarised over its seeds. */
export interface RdCell {
  readonly arch: Arch;
  readonly bits: number;
  readonly method: Method;
  readonly bpp: number;
  readonly codebookSize: number;
  readonly tokens: number;
  readonly psnr: SeedSummary;
  readonly ssim: SeedSummary;
  readonly usage: SeedSummary;
  readonly perplexity: SeedSummary;
  /** GQ only: PSNR of the decoded posterior mean μ and of a posterior sample, before conversion. */
  readonly psnrMean?: SeedSummary;
  readonly psnrSample?: SeedSummary;
  /** GQ only: mean per-token KL rate (bits) of the last training batches. */
  readonly trainingBits?: SeedSummary;
}

/** Group per-seed results into cells. */
export function rdCells(results: readonly RdResult[]): RdCell[] {
  const keys = [...new Set(results.map((r) => `${r.arch}|${r.bits}|${r.method}`))];
  return keys.map((key) => {
    const rows = results.filter((r) => `${r.arch}|${r.bits}|${r.method}` === key);
    const first = rows[0]!;
    return {
      arch: first.arch,
      bits: first.bits,
      method: first.method,
      bpp: first.bpp,
      codebookSize: first.codebookSize,
      tokens: first.tokens,
      psnr: summarizeSeeds(rows, (r) => r.psnr),
      ssim: summarizeSeeds(rows, (r) => r.ssim),
      usage: summarizeSeeds(rows, (r) => r.usage),
      perplexity: summarizeSeeds(rows, (r) => r.perplexity),
      ...optionalSummary('psnrMean', rows, (r) => r.psnrMean),
      ...optionalSummary('psnrSample', rows, (r) => r.psnrSample),
      ...(first.method === ours ? optionalSummary('trainingBits', rows, (r) => r.training.finalBitsMean) : {}),
    };
  });
}

/** `{ [key]: summary }` when every seed has the value, else nothing. */
function optionalSummary<K extends string>(key: K, rows: readonly RdResult[], g: (r: RdResult) => number | undefined): Partial<Record<K, SeedSummary>> {
  const values = rows.map(g);
  return values.every((v): v is number => v !== undefined) ? ({ [key]: summarize(values, rows.map((r) => r.seed)) } as Record<K, SeedSummary>) : {};
}

/**
 * Claim 9: GQ gives the best PSNR and SSIM at equal bits. Per cell, GQ is compared with every
 * baseline on both metrics (difference of seed means against twice its standard error): a
 * baseline significantly better on either metric in any cell fails the claim; GQ significantly
 * better than every baseline on both metrics in every cell reproduces it; anything else is within noise.
 */
export function claim9(cells: readonly RdCell[]): ClaimCheck {
  const groups = [...new Set(cells.map((c) => `${c.arch}|${c.bits}`))];
  let losses = 0;
  let wins = 0;
  const readings: string[] = [];
  const measured = groups.map((group) => {
    const inGroup = cells.filter((c) => `${c.arch}|${c.bits}` === group);
    const gq = inGroup.find((c) => c.method === ours)!;
    const others = inGroup.filter((c) => c.method !== ours);
    const outcome = (metric: 'psnr' | 'ssim') => others.map((o) => ({ method: o.method, cmp: compare(gq[metric], o[metric]) }));
    const both = [...outcome('psnr'), ...outcome('ssim')];
    const beaten = both.filter((o) => o.cmp === 'less').map((o) => o.method);
    if (beaten.length > 0) losses++;
    else if (both.every((o) => o.cmp === 'greater')) wins++;
    const bestOther = (metric: 'psnr' | 'ssim') => others.reduce((a, b) => (b[metric].mean > a[metric].mean ? b : a));
    const p = bestOther('psnr');
    const s = bestOther('ssim');
    if (!both.every((o) => o.cmp === 'greater')) readings.push(claim9Reading(gq, p));
    return (
      `${gq.arch} ${gq.bits}b: GQ ${formatSummary(gq.psnr)} dB / ${formatSummary(gq.ssim, 3)}; best other PSNR ${p.method} ${formatSummary(p.psnr)} (GQ − ${p.method} ${formatDifference(gq.psnr, p.psnr)}: ${compare(gq.psnr, p.psnr)}), ` +
      `SSIM ${s.method} ${formatSummary(s.ssim, 3)} (GQ − ${s.method} ${formatDifference(gq.ssim, s.ssim, 3)}: ${compare(gq.ssim, s.ssim)})${beaten.length > 0 ? `; GQ significantly behind ${[...new Set(beaten)].join(', ')}` : ''}`
    );
  });
  return {
    claim: 9,
    statement: 'GQ gives the best PSNR and SSIM at equal bits per position',
    criterion:
      'per cell, GQ compared with each baseline seed by seed (mean per-seed difference beyond 2 standard errors; a seed holds out the same images for every method): no baseline significantly better on PSNR or SSIM in any cell, and GQ significantly better than all on both in every cell',
    measured: measured.join('; '),
    verdict: verdictOf(losses > 0 ? 'fails' : wins === groups.length ? 'holds' : 'unclear'),
    ...(readings.length > 0 ? { reading: readings.join(' ') } : {}),
  };
}

/**
 * Where GQ's PSNR is lost in one cell, against the best baseline. With the decoded posterior mean μ
 * above the baseline, the conversion (μ → sample → GQ) costs more than that margin. With μ at or
 * below it, the gap splits into the part already in the Gaussian VAE (baseline − μ) and the
 * conversion's part (μ − GQ), and the reading names the larger.
 */
function claim9Reading(gq: RdCell, best: RdCell): string {
  const where = `${gq.arch} ${gq.bits}b`;
  if (gq.psnrMean === undefined || gq.psnrSample === undefined) return `${where}: GQ ${gq.psnr.mean.toFixed(2)} dB against ${best.method} ${best.psnr.mean.toFixed(2)} dB.`;
  const mu = gq.psnrMean.mean;
  const margin = mu - best.psnr.mean;
  const conversion = `μ → sample ${(mu - gq.psnrSample.mean).toFixed(2)} dB, sample → GQ ${(gq.psnrSample.mean - gq.psnr.mean).toFixed(2)} dB`;
  if (margin <= 0) {
    const inConversion = mu - gq.psnr.mean;
    const larger = -margin >= inConversion ? 'in the continuous model at this training length' : 'in the conversion';
    return (
      `${where}: GQ is ${(best.psnr.mean - gq.psnr.mean).toFixed(2)} dB behind ${best.method} (${best.psnr.mean.toFixed(2)} dB): ` +
      `${(-margin).toFixed(2)} dB of it already in the Gaussian VAE's own posterior mean (${mu.toFixed(2)} dB), ` +
      `${inConversion.toFixed(2)} dB in the conversion (${conversion}), so most of the gap is ${larger}.`
    );
  }
  return `${where}: the posterior mean reaches ${mu.toFixed(2)} dB, ${margin.toFixed(2)} dB above ${best.method} (${best.psnr.mean.toFixed(2)} dB); the conversion costs ${(mu - gq.psnr.mean).toFixed(2)} dB (${conversion}) and takes GQ to ${gq.psnr.mean.toFixed(2)} dB.`;
}

/**
 * Why GQ's tokens use only part of its codebook in one cell: its index entropy, and whether the rate
 * its training ended at was short of log2 K (a rate shortfall) or at it (then the posteriors of the
 * evaluated images cover only part of the prior).
 */
function usageReading(g: RdCell): string {
  const bits = Math.log2(g.codebookSize);
  const entropy = `GQ's index entropy is log2(perplexity) = ${Math.log2(g.perplexity.mean).toFixed(2)} of ${bits} bits, so its tokens concentrate on part of the codebook`;
  const rate = g.trainingBits;
  if (rate === undefined) {
    return `${g.arch} K=${g.codebookSize}: ${entropy}, which suggests posterior rates below log2 K (TDC not yet holding every token in band): codewords far from the bulk of the posteriors are then rarely the best match.`;
  }
  const atRate = `its last training batches averaged ${formatSummary(rate)} bits per token`;
  return rate.mean >= bits - 0.5
    ? `${g.arch} K=${g.codebookSize}: ${entropy}; ${atRate}, within half a bit of log2 K, so this is not a rate shortfall: the posteriors of the evaluated images lie in part of N(0, I) only, and the codewords outside it are rarely the best match.`
    : `${g.arch} K=${g.codebookSize}: ${entropy}; ${atRate}, more than half a bit below log2 K = ${bits}: with too few bits per token the posteriors are wide, and codewords far from their bulk are rarely the best match.`;
}

/**
 * Claim 2: GQ uses ≈ all of its codebook, and a learned VQ at the same K less. Per cell the usage GQ
 * can reach is min(1, tokens/K); GQ must reach ≥ 95 % of it and VQ's usage must be significantly lower.
 * GQ below 80 % of it, or VQ significantly higher, in any cell fails the claim.
 */
export function claim2(cells: readonly RdCell[]): ClaimCheck {
  const gqCells = cells.filter((c) => c.method === ours);
  let fails = 0;
  let holds = 0;
  const readings: string[] = [];
  const measured = gqCells.map((g) => {
    const v = cells.find((c) => c.method === learned && c.arch === g.arch && c.bits === g.bits);
    const reachable = Math.min(1, g.tokens / g.codebookSize);
    const share = g.usage.mean / reachable;
    const vsVq = v === undefined ? undefined : compare(v.usage, g.usage);
    if (share < 0.8 || vsVq === 'greater') fails++;
    else if (share >= 0.95 && vsVq === 'less') holds++;
    if (share < 0.95) readings.push(usageReading(g));
    if (v !== undefined && vsVq !== 'less') {
      readings.push(
        v.usage.mean >= 0.8 * reachable
          ? `${g.arch} K=${g.codebookSize}: the learned VQ uses ${(v.usage.mean * 100).toFixed(1)}% of its codebook too (${vsVq}); with ${g.tokens} tokens per ${g.codebookSize} codewords a small codebook is filled either way.`
          : `${g.arch} K=${g.codebookSize}: the learned VQ uses ${(v.usage.mean * 100).toFixed(1)}% of its codebook against GQ's ${(g.usage.mean * 100).toFixed(1)}%, a gap not yet told apart over ${Math.min(v.usage.n, g.usage.n)} seed(s) (${vsVq}).`,
      );
    }
    return (
      `${g.arch} K=${g.codebookSize} (${g.tokens} tokens): GQ ${formatSummary({ ...g.usage, mean: g.usage.mean * 100, sd: g.usage.sd * 100 }, 1)}% ` +
      `(ppl ${g.perplexity.mean.toFixed(1)}), VQ ${v !== undefined ? `${formatSummary({ ...v.usage, mean: v.usage.mean * 100, sd: v.usage.sd * 100 }, 1)}% (ppl ${v.perplexity.mean.toFixed(1)}; ${vsVq})` : 'not run'}`
    );
  });
  return {
    claim: 2,
    statement: 'GQ uses ≈100% of its codebook; a learned VQ at the same K uses less',
    criterion: 'in every cell GQ usage ≥ 95% of the reachable min(1, tokens/K) and VQ usage significantly lower; GQ < 80% of it, or VQ significantly higher, in any cell fails',
    measured: measured.join('; '),
    verdict: verdictOf(fails > 0 ? 'fails' : holds === gqCells.length && gqCells.length > 0 ? 'holds' : 'unclear'),
    ...(readings.length > 0 ? { reading: readings.join(' ') } : {}),
  };
}

/** Rate–distortion: GQ+TDC vs VQ, FSQ, LFQ and BSQ on the same backbone, data and steps at equal bits per position, over seeds. */
export async function rdSuite(ctx: BenchContext): Promise<SuiteOutput> {
  const run = new SuiteRun(ctx, 'rd');
  const results: RdResult[] = [];
  for (const arch of ctx.size.rdArchs) {
    for (const bits of ctx.size.rdBits) {
      // Seeds outermost: each seed completes every method before the next starts, so kept results form whole cells early.
      for (const seed of seedsOf(ctx)) {
        for (const method of rdMethods) {
          const config = benchConfig(ctx, arch, { method, bits, seed });
          ctx.log(`rd: ${arch} ${method} at ${bits} bits/position, seed ${seed} (${describeBottleneck(config)})`);
          results.push(
            await run.config(runId(config), () =>
              withEvaluation(ctx, config, (e, training) => ({
                arch,
                method,
                bits,
                seed,
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
  }
  const cells = rdCells(results);
  const bottleneck = (c: RdCell) => results.find((r) => r.arch === c.arch && r.bits === c.bits && r.method === c.method)!.bottleneck;
  const table: Table = {
    title: `Rate–distortion at equal bits per position (held-out images; quantised reconstruction; mean ± sd over ${ctx.size.seeds} seed(s))`,
    columns: ['arch', 'method', 'bottleneck', 'bits/pos', 'bpp', 'PSNR dB', 'SSIM', 'usage %', 'perplexity', 'codebook size'],
    digits: [0, 0, 0, 0, 3, 0, 0, 0, 1, 0],
    rows: cells.map((c) => [
      c.arch,
      c.method,
      bottleneck(c),
      c.bits,
      c.bpp,
      formatSummary(c.psnr),
      formatSummary(c.ssim, 4),
      formatSummary({ ...c.usage, mean: c.usage.mean * 100, sd: c.usage.sd * 100 }, 1),
      c.perplexity.mean,
      c.codebookSize,
    ]),
  };
  const svgs: Record<string, string> = {};
  const plots = [];
  for (const arch of ctx.size.rdArchs) {
    const file = `rd-${arch}.svg`;
    svgs[file] = linePlot({
      title: `Rate–distortion, ${arch === 'unet' ? 'UNet' : 'ViT'}, ${datasetLabel(ctx.size.dataset)} (${ctx.size.name}; mean ± sd over ${ctx.size.seeds} seed(s))`,
      xLabel: 'bits per pixel',
      yLabel: 'PSNR (dB)',
      series: rdMethods.map((method) => {
        const own = cells.filter((c) => c.arch === arch && c.method === method);
        return { name: methodSpec(method).shortLabel, points: own.map((c) => [c.bpp, c.psnr.mean] as const), errors: own.map((c) => c.psnr.sd) };
      }),
    });
    plots.push({ file, title: `Rate–distortion, ${arch}` });
  }
  svgs['rd-usage.svg'] = barPlot({
    title: 'Codebook usage over the evaluation set (mean over seeds)',
    xLabel: 'backbone, bits per position',
    yLabel: 'usage (%)',
    categories: cells.filter((c) => c.method === ours).map((c) => `${c.arch} ${c.bits}b`),
    series: rdMethods.map((method) => ({
      name: methodSpec(method).shortLabel,
      values: cells.filter((c) => c.method === method).map((c) => c.usage.mean * 100),
    })),
  });
  plots.push({ file: 'rd-usage.svg', title: 'Codebook usage' });
  return run.finish({
    tables: [table],
    plots,
    svgs,
    claims: [claim2(cells), claim9(cells)],
    results,
    notes: [
      'Every method trains the same backbone with the same data order, steps, batch and learning rate; only the bottleneck differs. Seed s sets the weights, the data order, the noise and the held-out split, the same for every method.',
      'GQ models are Gaussian VAEs trained with TDC at T = log2 K and converted after training through the tokenizer; the baselines train through their quantiser.',
      'Comparisons across seeds are paired: "greater"/"less" when the mean of the per-seed differences exceeds twice its standard error, otherwise "within noise"; with one seed nothing is told apart.',
    ],
  });
}
