import { describe, expect, it } from 'vitest';
import { claim2, claim9, type RdCell } from '../src/suites/rd.js';
import { claim1, claim3, type TdcResult } from '../src/suites/tdc.js';
import { claim10, type TokenBridgeResult } from '../src/suites/tokenbridge.js';
import { claim5 } from '../src/suites/k-sweep.js';
import { claim6, type MSweepResult } from '../src/suites/m-sweep.js';
import { claim7, type BetaResult } from '../src/suites/beta.js';
import { claim8, gaussianDistortion, type CodebookCoverage, type SeedsResult } from '../src/suites/seeds.js';
import { claim11, readControllerLog, summarizeController, type ControllerStep } from '../src/suites/controller.js';
import { fastestEngaging, type TdcSpeedResult } from '../src/suites/tdc-speed.js';
import { compare, compareWith, formatDifference, pairedDifference, summarize } from '../src/stats.js';

/** Three seeds spread ±sd around `mean` (sample sd exactly `sd`). */
const seeds3 = (mean: number, sd: number): number[] => [mean - sd, mean, mean + sd];

describe('seed statistics', () => {
  it('summarize gives the sample mean and sd', () => {
    expect(summarize([1, 2, 3])).toEqual({ mean: 2, sd: 1, n: 3 });
    expect(summarize([5])).toEqual({ mean: 5, sd: 0, n: 1 });
  });
  it('compare tells apart only differences beyond two standard errors, and nothing with one seed', () => {
    // se of the difference = sqrt(1/3 + 1/3) ≈ 0.816: a gap of 2 exceeds 2·se = 1.63, a gap of 1.5 does not.
    expect(compare(summarize(seeds3(12, 1)), summarize(seeds3(10, 1)))).toBe('greater');
    expect(compare(summarize(seeds3(10, 1)), summarize(seeds3(12, 1)))).toBe('less');
    expect(compare(summarize(seeds3(11.5, 1)), summarize(seeds3(10, 1)))).toBe('within noise');
    expect(compare(summarize([100]), summarize([0]))).toBe('within noise');
    expect(compareWith(summarize(seeds3(0.1, 0.05)), 0.5)).toBe('less');
    expect(compareWith(summarize(seeds3(0.45, 0.1)), 0.5)).toBe('within noise');
    expect(compareWith(summarize(seeds3(0.9, 0.1)), 0.5)).toBe('greater');
  });
  it('compare pairs values measured on the same seeds, and falls back to Welch where the seeds differ', () => {
    // Seed 1 holds out harder images than seed 0 for both methods: the per-seed differences are
    // 0.5, 0.4, 0.6 (mean 0.5, sd 0.1, se 0.1/√3 ≈ 0.058), far beyond 2 se; the means differ by 0.5
    // against a Welch se of √((3² + 2.95²)/3) ≈ 2.43, within it.
    const a = summarize([20, 23, 26], [0, 1, 2]);
    const b = summarize([19.5, 22.6, 25.4], [0, 1, 2]);
    const diff = pairedDifference(a, b)!;
    expect(diff.n).toBe(3);
    expect(diff.mean).toBeCloseTo(0.5, 12);
    expect(diff.sd).toBeCloseTo(0.1, 12);
    expect(compare(a, b)).toBe('greater');
    expect(compare(b, a)).toBe('less');
    expect(formatDifference(a, b)).toBe('0.50 ± 0.10');
    // Other seeds, or none: the seeds cannot be paired, so the means are compared.
    const elsewhere = summarize([19.5, 22.6, 25.4], [0, 1, 3]);
    expect(pairedDifference(a, elsewhere)).toBeUndefined();
    expect(compare(a, elsewhere)).toBe('within noise');
    expect(compare(a, summarize([19.5, 22.6, 25.4]))).toBe('within noise');
    expect(formatDifference(a, elsewhere)).toBe('0.50');
    expect(() => summarize([1, 2], [0])).toThrow(/summarize: seeds must give one seed per value \(2 values\), got 1/);
  });
});

/** A cell of the rd suite with PSNR/SSIM/usage spread over 3 seeds. */
function cell(method: RdCell['method'], psnr: number, ssim: number, usage = 0.99, sd = 0.05): RdCell {
  return {
    arch: 'unet',
    bits: 8,
    method,
    bpp: 0.5,
    codebookSize: 256,
    tokens: 8192,
    psnr: summarize(seeds3(psnr, sd)),
    ssim: summarize(seeds3(ssim, sd / 100)),
    usage: summarize(seeds3(usage, 0.001)),
    perplexity: summarize(seeds3(100, 1)),
  };
}

describe('claim 9 (rd): best PSNR and SSIM', () => {
  const others = (psnr: number, ssim: number) => (['vq', 'fsq', 'lfq', 'bsq'] as const).map((m) => cell(m, psnr, ssim));
  it('reproduces when GQ is significantly ahead on both metrics', () => {
    expect(claim9([cell('gq', 22, 0.8), ...others(21, 0.7)]).verdict).toBe('reproduces');
  });
  it('does not reproduce when a baseline is significantly ahead on SSIM alone', () => {
    expect(claim9([cell('gq', 22, 0.7), ...others(21, 0.75)]).verdict).toBe('does not reproduce');
  });
  it('is inconclusive within noise', () => {
    expect(claim9([cell('gq', 22, 0.8), ...others(21.98, 0.8)]).verdict).toBe('inconclusive');
  });
  it('reads where GQ loses: the split between the VAE and the conversion when its posterior mean is already behind, else the conversion', () => {
    const withPosterior = (mu: number, sample: number): RdCell => ({ ...cell('gq', 21.71, 0.75), psnrMean: summarize(seeds3(mu, 0.1)), psnrSample: summarize(seeds3(sample, 0.1)) });
    const baselines = [cell('vq', 19.75, 0.67), cell('fsq', 22.43, 0.77), cell('lfq', 20.18, 0.7), cell('bsq', 20, 0.7)];
    const inVae = claim9([withPosterior(22.2, 22.0), ...baselines]);
    expect(inVae.verdict).toBe('does not reproduce');
    // Gap 22.43 − 21.71 = 0.72 dB: 22.43 − 22.20 = 0.23 in the VAE, 22.20 − 21.71 = 0.49 in the conversion.
    expect(inVae.reading).toContain(
      'unet 8b: GQ is 0.72 dB behind fsq (22.43 dB): 0.23 dB of it already in the Gaussian VAE\'s own posterior mean (22.20 dB), 0.49 dB in the conversion (μ → sample 0.20 dB, sample → GQ 0.29 dB), so most of the gap is in the conversion.',
    );
    // μ 21.90: 0.53 dB in the VAE, 0.19 dB in the conversion.
    expect(claim9([withPosterior(21.9, 21.8), ...baselines]).reading).toContain('0.53 dB of it already in the Gaussian VAE\'s own posterior mean (21.90 dB), 0.19 dB in the conversion (μ → sample 0.10 dB, sample → GQ 0.09 dB), so most of the gap is in the continuous model at this training length.');
    const inConversion = claim9([withPosterior(22.75, 22.17), ...baselines]);
    expect(inConversion.reading).toContain('the posterior mean reaches 22.75 dB, 0.32 dB above fsq (22.43 dB); the conversion costs 1.04 dB (μ → sample 0.58 dB, sample → GQ 0.46 dB)');
    expect(claim9([cell('gq', 22, 0.8), ...others(21, 0.7)]).reading).toBeUndefined();
  });
});

describe('claim 6 (m-sweep): larger m at 1 bit per dimension', () => {
  const model = (dim: number, psnr: number, ssim: number, psnrMean: number, inBand: number): MSweepResult => ({
    dim,
    tokensPerPosition: 8 / dim,
    codebookBits: dim,
    bpp: 0.5,
    images: 256,
    psnr,
    ssim,
    psnrMean,
    psnrSample: psnrMean - 0.2,
    usage: 1,
    perplexity: 2 ** dim,
    bitsMean: dim,
    inBand,
    training: { runId: `m${dim}`, steps: 1300, trainSeconds: 1, stepsNow: 1300, finalLoss: 0 },
  });
  it('reproduces when PSNR rises with m, with no reading', () => {
    const check = claim6([model(1, 20, 0.6, 21, 0.9), model(2, 21, 0.7, 22, 0.9), model(4, 22.05, 0.8, 23, 0.9)]);
    expect(check.verdict).toBe('reproduces');
    expect(check.reading).toBeUndefined();
  });
  it('reads a drop as the part in the posterior mean and the part in the conversion', () => {
    const check = claim6([model(1, 20.06, 0.6694, 22.84, 0.938), model(4, 23.36, 0.6983, 23.94, 0.96), model(8, 22.92, 0.8174, 23.67, 0.817)]);
    expect(check.verdict).toBe('does not reproduce');
    // 23.36 − 22.92 = 0.44 dB: 23.94 − 23.67 = 0.27 in μ, 0.17 in the conversion (0.58 → 0.75).
    expect(check.reading).toBe(
      'One model per m: from m = 4 to m = 8 PSNR falls 0.44 dB: 0.27 dB of it in the posterior mean (μ 23.94 → 23.67 dB), 0.17 dB in the conversion (μ → GQ 0.58 → 0.75 dB); SSIM rises (0.698 → 0.817), and 81.7 % of m = 8\'s tokens are in band (96.0 % at m = 4).',
    );
  });
});

describe('claim 2 (rd): codebook usage', () => {
  it('reproduces when GQ uses its codebook and VQ significantly less', () => {
    expect(claim2([cell('gq', 0, 0, 0.99), cell('vq', 0, 0, 0.3)]).verdict).toBe('reproduces');
  });
  it('fails in any cell where GQ uses under 80 % of what it could reach (the ViT K = 256 case), and reads its index entropy', () => {
    const check = claim2([cell('gq', 0, 0, 0.99), cell('vq', 0, 0, 0.3), { ...cell('gq', 0, 0, 0.64), arch: 'vit', perplexity: summarize(seeds3(64, 1)) }]);
    expect(check.verdict).toBe('does not reproduce');
    expect(check.reading).toContain('vit K=256: GQ\'s index entropy is log2(perplexity) = 6.00 of 8 bits');
    expect(check.reading).not.toContain('unet K=256');
  });
  it('reads a concentrated codebook by the rate GQ trained at: short of log2 K, or at it', () => {
    const concentrated = (bits: number[]): RdCell => ({ ...cell('gq', 0, 0, 0.69), perplexity: summarize(seeds3(64, 1)), trainingBits: summarize(bits) });
    const atRate = claim2([concentrated([8.03, 7.97, 8.0]), cell('vq', 0, 0, 0.05)]);
    expect(atRate.verdict).toBe('does not reproduce');
    expect(atRate.reading).toContain('unet K=256: GQ\'s index entropy is log2(perplexity) = 6.00 of 8 bits, so its tokens concentrate on part of the codebook; its last training batches averaged 8.00 ± 0.03 bits per token, within half a bit of log2 K, so this is not a rate shortfall');
    const short = claim2([concentrated([6.9, 7.0, 7.1]), cell('vq', 0, 0, 0.05)]);
    expect(short.reading).toContain('averaged 7.00 ± 0.10 bits per token, more than half a bit below log2 K = 8');
  });
  it('reads a VQ usage far below GQ\'s but from one seed as not yet told apart, not as a filled codebook', () => {
    const one = (method: RdCell['method'], usage: number): RdCell => ({ ...cell(method, 0, 0, usage), usage: summarize([usage]) });
    const check = claim2([one('gq', 0.69), one('vq', 0.055)]);
    expect(check.reading).toContain('unet K=256: the learned VQ uses 5.5% of its codebook against GQ\'s 69.0%, a gap not yet told apart over 1 seed(s) (within noise).');
    expect(check.reading).not.toContain('filled either way');
  });
  it('is inconclusive when VQ is level with GQ within noise', () => {
    const gq = cell('gq', 0, 0, 0.99);
    expect(claim2([gq, { ...cell('vq', 0, 0, 0.99), usage: summarize(seeds3(0.99, 0.01)) }]).verdict).toBe('inconclusive');
  });
});

/** A tdc-suite result with the figures the claims read. */
function tdcResult(method: TdcResult['method'], seed: number, o: { mean: number; inBand: number; p5: number; p95: number; psnrMu: number; psnrSample: number; psnrGq: number }): TdcResult {
  const tokenBits = {
    count: 100,
    mean: o.mean,
    std: 1,
    min: o.p5 - 1,
    max: o.p95 + 1,
    quantiles: { p5: o.p5, p50: o.mean, p95: o.p95 },
    histogram: { binWidth: 0.5, lower: 0, counts: [1] },
    target: 8,
    tolerance: 0.5,
    inBandFraction: o.inBand,
  };
  return {
    method,
    seed,
    target: 8,
    matchedBits: Math.round(o.mean),
    analysis: {
      images: 10,
      mean: { psnr: o.psnrMu, ssim: 0.8 },
      sample: { psnr: o.psnrSample, ssim: 0.8 },
      conversions: [8, Math.round(o.mean)].map((b) => ({ codebookBits: b, codebookSize: 2 ** b, psnr: o.psnrGq, ssim: 0.8, usage: 1, perplexity: 200, largeErrorGq: 0.5, largeErrorNearest: 0.5, meanSlackNats: 0 })),
      tokenBits,
      dimBits: { ...tokenBits, min: 1, max: 3 },
      c1p95: 1,
    },
    training: { runId: 'x', steps: 1, trainSeconds: 1, stepsNow: 0, finalLoss: 0 },
  };
}
const tdcSeeds = (method: TdcResult['method'], o: Parameters<typeof tdcResult>[2], jitter = 0.02): TdcResult[] =>
  [-1, 0, 1].map((k, seed) => tdcResult(method, seed, { ...o, psnrGq: o.psnrGq + k * jitter, p95: o.p95 + k * jitter }));

describe('claim 1 (tdc): near-lossless conversion', () => {
  const base = { mean: 8, inBand: 0.9, p5: 7.6, p95: 8.4, psnrMu: 25, psnrSample: 24.5 };
  it('reproduces when converged and the conversion costs clearly under 0.5 dB', () => {
    expect(claim1(tdcSeeds('gq', { ...base, psnrGq: 24.4 }), 0.5).verdict).toBe('reproduces');
  });
  it('does not reproduce when the conversion costs clearly more than 0.5 dB', () => {
    expect(claim1(tdcSeeds('gq', { ...base, psnrGq: 23 }), 0.5).verdict).toBe('does not reproduce');
  });
  it('is inconclusive while TDC has not converged', () => {
    const check = claim1(tdcSeeds('gq', { ...base, inBand: 0.3, psnrGq: 24.4 }), 0.5);
    expect(check.verdict).toBe('inconclusive');
    expect(check.reading).toBe('TDC has not converged in seed 0 (R̄ 8.00, 30.0% in band), seed 1 (R̄ 8.00, 30.0% in band), seed 2 (R̄ 8.00, 30.0% in band), so the conversion is not judged.');
  });
  it('reads what the conversion meets per seed when it costs too much, and nothing when the claim holds', () => {
    const check = claim1(tdcSeeds('gq', { ...base, psnrGq: 23 }), 0.5);
    // Seed 0's GQ PSNR is 23 − 0.02 (the fixture's jitter), so sample − GQ = 24.5 − 22.98.
    expect(check.reading).toMatch(/^The conversion at K = 2\^8 per seed: seed 0: sample − GQ 1\.52 dB at μ 25\.00 dB, R̄ 8\.00 \(p95 8\.38\), 90\.0% in band, 100% of the 256 codewords used \(perplexity 200\), P̂\(\|ẑ − μ\| ≥ σ\) 0\.500 \(nearest codeword 0\.500\); seed 1: /);
    expect(claim1(tdcSeeds('gq', { ...base, psnrGq: 24.4 }), 0.5).reading).toBeUndefined();
  });
});

describe('claim 3 (tdc): TDC vs the global-λ model at matched mean rate', () => {
  const tdc = tdcSeeds('gq', { mean: 8, inBand: 0.9, p5: 7.6, p95: 8.4, psnrMu: 25, psnrSample: 24.5, psnrGq: 24.4 });
  const vanilla = tdcSeeds('gq-vanilla', { mean: 5, inBand: 0.1, p5: 2, p95: 9, psnrMu: 25, psnrSample: 24.5, psnrGq: 22 });
  it('reproduces when TDC is tighter and loses less', () => {
    const global = tdcSeeds('gq-global', { mean: 8.1, inBand: 0.4, p5: 5, p95: 11, psnrMu: 25, psnrSample: 24.5, psnrGq: 23.5 });
    expect(claim3(tdc, global, vanilla, 0.5).verdict).toBe('reproduces');
  });
  it('does not reproduce when the global-λ model loses significantly less', () => {
    const global = tdcSeeds('gq-global', { mean: 8.1, inBand: 0.4, p5: 5, p95: 11, psnrMu: 25, psnrSample: 24.5, psnrGq: 24.49 });
    expect(claim3(tdcSeeds('gq', { mean: 8, inBand: 0.9, p5: 7.6, p95: 8.4, psnrMu: 25, psnrSample: 24.5, psnrGq: 23 }), global, vanilla, 0.5).verdict).toBe('does not reproduce');
  });
  it('is inconclusive when the rates are not matched', () => {
    const global = tdcSeeds('gq-global', { mean: 6, inBand: 0.4, p5: 5, p95: 11, psnrMu: 25, psnrSample: 24.5, psnrGq: 23.5 });
    const check = claim3(tdc, global, vanilla, 0.5);
    expect(check.verdict).toBe('inconclusive');
    expect(check.reading).toBe(
      'The global-λ controller holds the mean rate of its training batches at T = 8, but on the held-out images its mean rate is 6.00 ± 0.00 bits ' +
        "(outside T ± 0.5 in seed 0: 6.00, seed 1: 6.00, seed 2: 6.00), while TDC's is 8.00 ± 0.00; the comparison at matched rate therefore does not apply.",
    );
    const trained = global.map((r, i) => ({ ...r, training: { ...r.training, finalBitsMean: 8 + (i - 1) * 0.1 } }));
    expect(claim3(tdc, trained, vanilla, 0.5).reading).toContain('at T = 8 (its last training batch: 8.00 ± 0.10)');
    expect(claim3(tdc, tdcSeeds('gq-global', { mean: 8.1, inBand: 0.4, p5: 5, p95: 11, psnrMu: 25, psnrSample: 24.5, psnrGq: 23.5 }), vanilla, 0.5).reading).toBeUndefined();
  });
});

const tb = (method: TokenBridgeResult['method'], seed: number, loss: number, bitsMean = 2): TokenBridgeResult => ({
  method,
  seed,
  bitsPerChannel: 2,
  scale: 1,
  images: 10,
  psnr: 20 - loss,
  ssim: 0.7,
  psnrMean: 20,
  psnrSample: 19.8,
  usage: 1,
  perplexity: 3.9,
  bitsMean,
  bitsMin: 0,
  bitsMax: 4,
  inBand: 0.8,
  training: { runId: 'x', steps: 1, trainSeconds: 1, stepsNow: 0, finalLoss: 0 },
});
const tbSeeds = (method: TokenBridgeResult['method'], loss: number, bitsMean = 2, jitter = [-0.02, 0, 0.02]) => jitter.map((d, seed) => tb(method, seed, loss + d, bitsMean));

describe('claim 10 (tokenbridge) at matched rate', () => {
  const vanilla = tbSeeds('tokenbridge', 0.5, 0.6);
  it('reproduces when TDC loses significantly less', () => {
    expect(claim10(tbSeeds('tokenbridge-tdc', 0.3), tbSeeds('tokenbridge-global', 0.9), vanilla, 0.5).verdict).toBe('reproduces');
  });
  it('does not reproduce when TDC loses significantly more', () => {
    expect(claim10(tbSeeds('tokenbridge-tdc', 0.9), tbSeeds('tokenbridge-global', 0.3), vanilla, 0.5).verdict).toBe('does not reproduce');
  });
  it('is inconclusive within noise or at unmatched rates', () => {
    // Seed by seed the global model loses 0.05, 0.01 and −0.03 dB more: mean 0.01, sd 0.04, within 2 se.
    expect(claim10(tbSeeds('tokenbridge-tdc', 0.5), tbSeeds('tokenbridge-global', 0.51, 2, [0.02, 0, -0.02]), vanilla, 0.5).verdict).toBe('inconclusive');
    // The same seed-to-seed shift in both (a harder held-out split): a steady 0.01 dB is told apart.
    expect(claim10(tbSeeds('tokenbridge-tdc', 0.5), tbSeeds('tokenbridge-global', 0.51), vanilla, 0.5).verdict).toBe('reproduces');
    expect(claim10(tbSeeds('tokenbridge-tdc', 0.3), tbSeeds('tokenbridge-global', 0.9, 1), vanilla, 0.5).verdict).toBe('inconclusive');
  });
});

describe('claim 5 (k-sweep): Theorem 3.1 on i.i.d. codebooks', () => {
  const bin = (lower: number, probability: number, bound: number | null, tokens = 500) => ({ lower, upper: lower + 0.5, tokens, dims: tokens, largeErrors: Math.round(probability * tokens), probability, bound });
  it('reproduces when every populated bin is below the bound and P̂ falls with t', () => {
    const bins = [bin(0, 0.5, 0.6), bin(0.5, 0.3, 0.4), bin(1, 0.1, 0.2)];
    expect(claim5(bins, bins, bins).verdict).toBe('reproduces');
  });
  it('does not reproduce when a bin exceeds the bound, or P̂ rises with t', () => {
    expect(claim5([bin(0, 0.5, 0.6), bin(0.5, 0.45, 0.4)], [bin(0, 0.5, 0.6), bin(0.5, 0.45, 0.4)], []).verdict).toBe('does not reproduce');
    const rising = [bin(0, 0.2, 0.6), bin(0.5, 0.3, 0.4)];
    expect(claim5(rising, rising, []).verdict).toBe('does not reproduce');
  });
  it('is inconclusive without a bin of ≥ 100 tokens at t ≥ 0', () => {
    const sparse = [bin(-0.5, 0.9, null), bin(0, 0.5, 0.6, 50)];
    expect(claim5(sparse, sparse, sparse).verdict).toBe('inconclusive');
  });
});

const betaRows = (bits: number, entropyGain: number, psnrGain: number): BetaResult[] =>
  [0, 1, 2].flatMap((seed) =>
    [0, 0.5, 1].map((beta) => ({
      bits,
      bitsPerDim: bits / 4,
      seed,
      beta,
      psnr: 20 + (beta === 1 ? psnrGain : 0),
      ssim: 0.7,
      usage: 0.9,
      entropyBits: 3 + (beta === 1 ? entropyGain + seed * 0.01 : 0),
    })),
  );

describe('claim 7 (beta)', () => {
  it('reproduces: more entropy at the low rate, negligible PSNR change at the high rate', () => {
    expect(claim7([...betaRows(4, 0.3, -0.1), ...betaRows(8, 0.05, 0.05)]).verdict).toBe('reproduces');
  });
  it('does not reproduce when β = 1 lowers the entropy at the low rate', () => {
    expect(claim7([...betaRows(4, -0.3, 0), ...betaRows(8, 0, 0)]).verdict).toBe('does not reproduce');
  });
  it('is inconclusive when the entropy change is within noise', () => {
    expect(claim7([...betaRows(4, 0, 0), ...betaRows(8, 0, 0)]).verdict).toBe('inconclusive');
  });
  it('is inconclusive with only the low rate: its figures are not reused as the high rate', () => {
    const check = claim7(betaRows(4, 0.3, 0.1));
    expect(check.verdict).toBe('inconclusive');
    expect(check.measured).toMatch(/1 bit\/dim: Δentropy .*; ≥ 2 bits\/dim: not measured$/);
  });
});

const seedRows = (effect: number, noise: number): SeedsResult[] =>
  [0, 1, 2].flatMap((seed) => [
    { seed, codebookMethod: 'sobol' as const, psnr: 20 + (seed - 1) * noise + effect, ssim: 0.7 + (seed - 1) * noise * 0.01 + effect * 0.01, usage: 1 },
    { seed, codebookMethod: 'normal' as const, psnr: 20 + (seed - 1) * noise, ssim: 0.7 + (seed - 1) * noise * 0.01, usage: 1 },
  ]);

describe('claim 8 (seeds)', () => {
  it('reproduces when the generator effect is within the seed noise', () => {
    expect(claim8(seedRows(0.05, 0.3)).verdict).toBe('reproduces');
  });
  it('does not reproduce when the generator effect is over three seed sds', () => {
    expect(claim8(seedRows(2, 0.3)).verdict).toBe('does not reproduce');
  });
  it('is inconclusive in between, and with one seed', () => {
    expect(claim8(seedRows(0.6, 0.3)).verdict).toBe('inconclusive');
    expect(claim8(seedRows(0, 0.3).filter((r) => r.seed === 0)).verdict).toBe('inconclusive');
  });
  it('reads a failure against how evenly each generator covers the prior, and says nothing when it holds', () => {
    const coverage: CodebookCoverage = { dim: 4, seed: 42, sizes: [{ size: 16, sobol: 0.4, normal: 0.48 }, { size: 4096, sobol: 0.03, normal: 0.0327 }] };
    const failed = claim8(seedRows(2, 0.3), coverage);
    expect(failed.reading).toMatch(/K = 16: sobol 0\.400, normal 0\.480 \(normal 20 % higher\); K = 4096: sobol 0\.030, normal 0\.033 \(normal 9 % higher\)/);
    expect(failed.reading).toMatch(/narrows from 20 % at K = 16 to 9 % at K = 4096/);
    expect(failed.reading).toMatch(/sobol − normal measured here: 2\.00 dB at K = 16\.$/);
    expect(claim8(seedRows(0.05, 0.3), coverage).reading).toBeUndefined();
  });
  it('is judged at the highest rate and reports a lower one beside it, with the reading when only the lower one fails', () => {
    const coverage: CodebookCoverage = { dim: 4, seed: 42, sizes: [{ size: 16, sobol: 0.4, normal: 0.48 }, { size: 256, sobol: 0.11, normal: 0.13 }] };
    const check = claim8(seedRows(0.05, 0.3), coverage, [{ bits: 4, size: 16, results: seedRows(2, 0.3) }], 256);
    expect(check.verdict).toBe('reproduces');
    expect(check.measured).toMatch(/; beside it, K = 16 \(4 bits\/position\): PSNR: sobol − normal 2\.00 ± 0\.00, seed sd 0\.30; SSIM: .* \(beyond 3 sd\)$/);
    expect(check.reading).toMatch(/measured here: 2\.00 dB at K = 16, 0\.05 dB at K = 256\.$/);
  });
});

describe('gaussianDistortion', () => {
  it('is E‖x‖²/m = 1 for one codeword at the origin, and 1 − 2/π for the best 1-bit quantiser {±√(2/π)}', () => {
    // 20 000 draws: the standard error is about 0.01 for the first (Var x² = 2) and 0.004 for the second.
    expect(Math.abs(gaussianDistortion(new Float32Array([0, 0]), 2) - 1)).toBeLessThan(0.03);
    const a = Math.sqrt(2 / Math.PI);
    expect(Math.abs(gaussianDistortion(new Float32Array([-a, a]), 1) - (1 - 2 / Math.PI))).toBeLessThan(0.015);
    // A worse codebook (both codewords on one side) has a higher distortion.
    expect(gaussianDistortion(new Float32Array([0.5, 1.5]), 1)).toBeGreaterThan(0.6);
  });
});

describe('claim 11 (controller)', () => {
  const step = (i: number, o: Partial<ControllerStep['lambda']> & { mean?: number; max?: number } = {}): ControllerStep => ({
    step: i,
    bits: { mean: o.mean ?? 8, min: 7.6, max: o.max ?? 8.4, inBand: 90, count: 100 },
    lambda: { global: o.global ?? 0.5, min: o.min ?? 1, max: o.max === undefined ? 1 : 2 },
  });
  it('reads metrics.jsonl lines that carry TDC statistics, skipping the rest', () => {
    const text = `${JSON.stringify(step(1))}\n${JSON.stringify({ step: 2, loss: 1 })}\n`;
    expect(readControllerLog(text)).toEqual([step(1)]);
  });
  it('reproduces for a settled run, fails for a clamped or drifting one', () => {
    const settled = Array.from({ length: 100 }, (_, i) => step(i + 1));
    expect(claim11([summarizeController(settled, 0, 8, 0.5)], 1.01).verdict).toBe('reproduces');
    const clamped = settled.map((s, i) => (i === 50 ? step(i + 1, { global: 1e3 }) : s));
    expect(claim11([summarizeController(clamped, 0, 8, 0.5)], 1.01).verdict).toBe('does not reproduce');
    const drifting = settled.map((s, i) => (i >= 90 ? step(i + 1, { mean: 9 }) : s));
    expect(claim11([summarizeController(drifting, 0, 8, 0.5)], 1.01).verdict).toBe('does not reproduce');
    // A high tail (max 9 > 8.5) with λ_max below 1 in the second half is the wrong side.
    const wrong = settled.map((s, i) => (i === 70 ? { ...s, bits: { ...s.bits, max: 9 }, lambda: { ...s.lambda, max: 0.9 } } : s));
    expect(summarizeController(wrong, 0, 8, 0.5).wrongSide).toBe(1);
    expect(claim11([], 1.01).verdict).toBe('inconclusive');
  });
  it('reports tier multipliers saturated by ever-present tails without failing, and fails a global λ spread over more than four decades', () => {
    // Both tails on every step (min 6 < 7.5, max 10 > 8.5): λ_min and λ_max walk to the clamp, as the rule says.
    const tails = Array.from({ length: 100 }, (_, i): ControllerStep => ({
      step: i + 1,
      bits: { mean: 8, min: 6, max: 10, inBand: 80, count: 100 },
      lambda: { global: 0.05, min: Math.max(1e-3, 1.01 ** -(i * 10)), max: Math.min(1e3, 1.01 ** (i * 10)) },
    }));
    const summary = summarizeController(tails, 0, 8, 0.5);
    expect(summary.lowTailShare).toBe(1);
    expect(summary.highTailShare).toBe(1);
    // 1.01^(10 i) reaches 1e3 at i ≥ 70 (1.01^695 > 1e3): steps 71…100 sit at the clamp.
    expect(summary.tierClampedShare).toBeCloseTo(0.3, 10);
    expect(summary.globalLow).toBe(0.05);
    const check = claim11([summary], 1.01);
    expect(check.verdict).toBe('reproduces');
    expect(check.measured).toContain('695 steps in a row');
    expect(check.measured).toContain('at the clamp on 30% of steps');
    const spread = tails.map((s, i) => ({ ...s, lambda: { ...s.lambda, global: i < 50 ? 1 : 5e-5 } }));
    expect(summarizeController(spread, 0, 8, 0.5).globalHigh / summarizeController(spread, 0, 8, 0.5).globalLow).toBeCloseTo(2e4, 6);
    expect(claim11([summarizeController(spread, 0, 8, 0.5)], 1.01).verdict).toBe('does not reproduce');
  });
});

describe('tdc-speed', () => {
  const r = (factor: number, steps: number, inBand: number): TdcSpeedResult => ({
    factor,
    steps,
    meanBits: 8,
    inBand,
    psnrMean: 20,
    psnrSample: 19.8,
    psnrGq: 19.7,
    training: { runId: 'x', steps, trainSeconds: 1, stepsNow: 0, finalLoss: 0 },
  });
  it('picks the γ that reaches 80 % in band in the fewest steps, the smaller γ on a tie', () => {
    expect(fastestEngaging([r(1.01, 400, 0.5), r(1.02, 400, 0.85), r(1.05, 200, 0.82), r(1.02, 200, 0.6)])?.factor).toBe(1.05);
    expect(fastestEngaging([r(1.05, 400, 0.9), r(1.02, 400, 0.9)])?.factor).toBe(1.02);
    expect(fastestEngaging([r(1.01, 400, 0.5)])).toBeUndefined();
  });
});
