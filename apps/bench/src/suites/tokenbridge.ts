import { methodSpec, rateControlLabel, type Method } from '@gq/training';
import type { ClaimCheck, Table } from '../report.js';
import { benchConfig, runId, seedsOf, withEvaluation, type BenchContext, type TrainingRecord } from '../runs.js';
import { compare, formatSummary, summarize, summarizeSeeds, verdictOf } from '../stats.js';
import { SuiteRun, gaussianScores, type GaussianScores, type SuiteOutput } from '../suite.js';
import { barPlot } from '../svg.js';

export interface TokenBridgeResult extends GaussianScores {
  readonly method: Method;
  readonly seed: number;
  readonly bitsPerChannel: number;
  readonly scale: number;
  /** Per-channel KL rate (bits): min, max (the mean is `bitsMean`), and the fraction within B ± α. */
  readonly bitsMin: number;
  readonly bitsMax: number;
  readonly inBand: number;
  readonly training: TrainingRecord;
}

/** TDC at T = B per channel, the global-λ controller at the same mean rate, and the vanilla KL. */
export const tokenBridgeMethods = ['tokenbridge-tdc', 'tokenbridge-global', 'tokenbridge'] as const satisfies readonly Method[];

/** PSNR(μ) − PSNR(TokenBridge(μ)): what the per-channel quantiser costs. */
const quantizationLoss = (r: TokenBridgeResult): number => r.psnrMean - r.psnr;

/**
 * Claim 10 at matched mean rate: TokenBridge loses significantly less on the TDC VAE than on the
 * global-λ VAE of the same mean rate per channel (B ± α in every seed); significantly more fails.
 */
export function claim10(tdc: readonly TokenBridgeResult[], global: readonly TokenBridgeResult[], vanilla: readonly TokenBridgeResult[], band: number): ClaimCheck {
  const matched = global.every((r) => Math.abs(r.bitsMean - r.bitsPerChannel) <= band);
  const lossTdc = summarizeSeeds(tdc, quantizationLoss);
  const lossGlobal = summarizeSeeds(global, quantizationLoss);
  const cmp = compare(lossTdc, lossGlobal);
  const outcome = !matched ? 'unclear' : cmp === 'less' ? 'holds' : cmp === 'greater' ? 'fails' : 'unclear';
  return {
    claim: 10,
    statement: 'TokenBridge quantisation of a TDC-trained VAE loses less than of a VAE of equal mean rate without TDC',
    criterion: `global-λ VAE at mean rate B ± ${band} per channel in every seed; PSNR(μ) − PSNR(TB) lower for TDC beyond 2 standard errors, paired by seed (holds), higher beyond them (fails)`,
    measured:
      `loss TDC ${formatSummary(lossTdc)} dB (R̄ ${formatSummary(summarize(tdc.map((r) => r.bitsMean)))}), global λ ${formatSummary(lossGlobal)} dB (R̄ ${formatSummary(summarize(global.map((r) => r.bitsMean)))}) (${cmp}); ` +
      `TB PSNR TDC ${formatSummary(summarize(tdc.map((r) => r.psnr)))}, global ${formatSummary(summarize(global.map((r) => r.psnr)))} dB; ` +
      `vanilla KL (unmatched, R̄ ${formatSummary(summarize(vanilla.map((r) => r.bitsMean)))}) loses ${formatSummary(summarize(vanilla.map(quantizationLoss)))} dB`,
    verdict: verdictOf(outcome),
  };
}

/** TokenBridge's per-channel quantiser on μ of a TDC VAE, a global-λ VAE and a vanilla VAE (m = 1, T = B), over seeds. */
export async function tokenBridgeSuite(ctx: BenchContext): Promise<SuiteOutput> {
  const run = new SuiteRun(ctx, 'tokenbridge');
  const bitsPerChannel = ctx.size.tokenBridgeBits;
  const channels = ctx.size.unet.model.zChannels ?? 4;
  const results: TokenBridgeResult[] = [];
  // Seeds outermost: each seed completes every method before the next starts, so kept results form whole cells early.
  for (const seed of seedsOf(ctx)) {
    for (const method of tokenBridgeMethods) {
      const config = benchConfig(ctx, 'unet', { method, bits: channels * bitsPerChannel, tbBits: bitsPerChannel, seed });
      ctx.log(`tokenbridge: ${method}, C = ${channels}, B = ${bitsPerChannel}, seed ${seed}`);
      results.push(
        await run.config(runId(config), () =>
          withEvaluation(ctx, config, (e, training) => ({
            method,
            seed,
            bitsPerChannel,
            scale: config.tbScale,
            ...gaussianScores(e),
            bitsMin: e.bits!.min,
            bitsMax: e.bits!.max,
            inBand: e.inBand!,
            training,
          }) satisfies TokenBridgeResult),
        ),
      );
    }
  }
  const of = (method: Method) => results.filter((r) => r.method === method);
  const band = benchConfig(ctx, 'unet', { method: 'tokenbridge-tdc', bits: channels * bitsPerChannel, tbBits: bitsPerChannel }).tdcBand;
  const name = (m: Method): string => rateControlLabel(methodSpec(m));
  const table: Table = {
    title: `TokenBridge at B = ${bitsPerChannel} bits per channel (UNet, C = ${channels}, scale s = ${results[0]!.scale}; mean ± sd over ${ctx.size.seeds} seed(s))`,
    columns: ['VAE', 'R̄ bits/channel', 'R min – max', `in B±${band} %`, 'PSNR μ', 'PSNR sample', 'PSNR TokenBridge(μ)', 'μ − TB dB', 'SSIM TB', 'level usage %'],
    digits: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    rows: tokenBridgeMethods.map((m) => {
      const rs = of(m);
      const f = (g: (r: TokenBridgeResult) => number, digits = 2) => formatSummary(summarize(rs.map(g)), digits);
      return [
        name(m),
        f((r) => r.bitsMean),
        `${Math.min(...rs.map((r) => r.bitsMin)).toFixed(2)} – ${Math.max(...rs.map((r) => r.bitsMax)).toFixed(2)}`,
        f((r) => r.inBand * 100, 1),
        f((r) => r.psnrMean),
        f((r) => r.psnrSample),
        f((r) => r.psnr),
        f(quantizationLoss),
        f((r) => r.ssim, 4),
        f((r) => r.usage * 100, 1),
      ];
    }),
  };
  const mean = (m: Method, g: (r: TokenBridgeResult) => number) => summarize(of(m).map(g)).mean;
  const svgs = {
    'tokenbridge.svg': barPlot({
      title: `TokenBridge, B = ${bitsPerChannel}: TDC vs global λ vs vanilla KL (mean over seeds)`,
      xLabel: 'reconstruction',
      yLabel: 'PSNR (dB)',
      categories: ['decode(μ)', 'decode(μ + σε)', 'decode(TB(μ))'],
      series: tokenBridgeMethods.map((m) => ({ name: name(m), values: [mean(m, (r) => r.psnrMean), mean(m, (r) => r.psnrSample), mean(m, (r) => r.psnr)] })),
    }),
  };
  return run.finish({
    tables: [table],
    plots: [{ file: 'tokenbridge.svg', title: 'TokenBridge PSNR' }],
    svgs,
    claims: [claim10(of('tokenbridge-tdc'), of('tokenbridge-global'), of('tokenbridge'), band)],
    results,
    notes: [
      'The global-λ VAE holds the mean rate per channel at B like TDC but without the per-channel band: the matched-rate comparison of claim 10.',
      'The vanilla VAE uses the fixed reference KL weight; its mean rate per channel differs from B, which the table shows.',
    ],
  });
}
