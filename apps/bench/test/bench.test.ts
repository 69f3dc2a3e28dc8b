import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { ensureGradients, useBackend } from '@gq/runtime';
import { theorem31Bound } from '@gq/metrics';
import { defaultResultsFile, gridPart, runBench, resolveSuites } from '../src/bench.js';
import { isGqError } from '@gq/core';
import { BenchError } from '../src/errors.js';
import { assertFinite, markdownTable, suiteNames, type SuiteReport } from '../src/report.js';
import { sizeProfile, stepsOf } from '../src/sizes.js';
import { estimatedSeconds, suiteCosts } from '../src/cost.js';
import { benchConfig, speedRunId, withTrainedModel } from '../src/runs.js';
import { barPlot, linePlot, niceTicks } from '../src/svg.js';

/** Every number anywhere in a parsed report, with its JSON path. */
function numbers(value: unknown, path = '$', out: [string, number][] = []): [string, number][] {
  if (typeof value === 'number') out.push([path, value]);
  else if (Array.isArray(value)) value.forEach((v, i) => numbers(v, `${path}[${i}]`, out));
  else if (value !== null && typeof value === 'object') for (const [k, v] of Object.entries(value)) numbers(v, `${path}.${k}`, out);
  return out;
}

beforeAll(async () => {
  await useBackend('wasm');
  await ensureGradients();
});

describe('gq-bench --quick, every suite', () => {
  const out = mkdtempSync(join(tmpdir(), 'gq-bench-'));
  let reports: SuiteReport[] = [];
  const resultsFile = join(out, 'RESULTS.md');

  it('runs all suites and writes report.json, report.md and every plot', async () => {
    const before = tf.memory().numTensors;
    reports = await runBench({ suites: ['all'], size: 'quick', outDir: out, workers: 1, backend: 'wasm', quiet: true, resultsFile, command: 'test', log: () => undefined });
    expect(reports.map((r) => r.suite)).toEqual([...suiteNames]);
    // Evaluation disposes what it creates: only the backend's own state may remain.
    expect(tf.memory().numTensors).toBe(before);
    for (const report of reports) {
      const dir = join(out, report.suite);
      const json = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as SuiteReport;
      expect(json.suite).toBe(report.suite);
      expect(json.size).toBe('quick');
      expect(json.machine.cores).toBeGreaterThan(0);
      expect(json.machine.node).toBe(process.version);
      expect(json.machine.commit).toMatch(/^[0-9a-f]{40}$|^unknown/);
      expect(json.tables.length).toBeGreaterThan(0);
      for (const table of json.tables) {
        expect(table.rows.length).toBeGreaterThan(0);
        for (const row of table.rows) expect(row).toHaveLength(table.columns.length);
      }
      for (const plot of json.plots) {
        const svg = readFileSync(join(dir, plot.file), 'utf8');
        expect(svg.startsWith('<svg')).toBe(true);
        expect(svg).not.toMatch(/NaN|Infinity/);
        expect(existsSync(join(out, 'docs', 'results', plot.file))).toBe(true);
      }
      expect(readFileSync(join(dir, 'report.md'), 'utf8')).toContain(`## ${report.suite} (quick)`);
      // JSON turns NaN and ±∞ into null; the writer refuses them, and the file holds only finite numbers.
      const found = numbers(json);
      expect(found.length).toBeGreaterThan(20);
      for (const [path, value] of found) expect(Number.isFinite(value), path).toBe(true);
    }
    const results = readFileSync(resultsFile, 'utf8');
    expect(results).toContain('## Claims');
    // Every claim of the paper has a verdict row.
    for (let claim = 1; claim <= 11; claim++) expect(results).toMatch(new RegExp(`\\| ${claim} \\| `));
    for (const name of suiteNames) expect(results).toContain(`## ${name} (quick)`);
  }, 600_000);

  it('reports values that obey their own definitions', () => {
    const byName = Object.fromEntries(reports.map((r) => [r.suite, r]));
    type Rd = { psnr: number; ssim: number; usage: number; used: number; codebookSize: number; perplexity: number; bpp: number; bitsPerPosition: number };
    for (const r of byName.rd!.results as Rd[]) {
      // Fixed-length codes: bpp = bits per position × positions / pixels (16×16 images, f = 2 UNet or 4-px ViT patches).
      expect([r.bitsPerPosition * 64 / 256, r.bitsPerPosition * 16 / 256]).toContainEqual(r.bpp);
      expect(r.usage).toBeCloseTo(r.used / r.codebookSize, 12);
      expect(r.perplexity).toBeGreaterThanOrEqual(1);
      expect(r.perplexity).toBeLessThanOrEqual(r.used * (1 + 1e-9));
      expect(Math.abs(r.ssim)).toBeLessThanOrEqual(1);
    }
    type Sweep = { analysis: { conversions: { codebookBits: number; codebookSize: number; meanSlackNats: number; largeErrorNearest: number }[]; tokenBits: { mean: number } }; bins: { lower: number; bound: number | null; tokens: number }[] };
    const sweep = byName['k-sweep']!.results[0] as Sweep;
    for (const c of sweep.analysis.conversions) {
      expect(c.codebookSize).toBe(2 ** c.codebookBits);
      expect(c.meanSlackNats).toBeCloseTo(Math.log(c.codebookSize) - sweep.analysis.tokenBits.mean * Math.LN2, 9);
      expect(c.largeErrorNearest).toBeGreaterThanOrEqual(0);
      expect(c.largeErrorNearest).toBeLessThanOrEqual(1);
    }
    for (const bin of sweep.bins) expect(bin.bound).toBe(bin.lower >= 0 ? theorem31Bound(bin.lower) : null);
    // Each K contributes every token once to the slack bins: tokens = images × 8×8 positions × C (m = 1) × number of K.
    const tokens = sweep.bins.reduce((a, b) => a + b.tokens, 0);
    expect(tokens).toBe(8 * 64 * 4 * sweep.analysis.conversions.length);
  });

  it('tdc-speed loads a step count that rd trained in full from rd\'s run, and never takes a run back to fewer steps', async () => {
    type Speed = { factor: number; steps: number; psnrGq: number; training: { runId: string; steps: number; stepsNow: number } };
    type Rd = { arch: string; method: string; bits: number; seed: number; training: { runId: string } };
    const quick = sizeProfile('quick');
    const last = Math.max(...quick.tdcSpeed.steps);
    // rd's UNet GQ model at the tdc rate, seed 0, is tdc-speed's γ = 1.01 run at the size's step count.
    expect([last, quick.rdBits]).toEqual([quick.steps, [quick.tdcBits]]);
    const rdRun = (reports.find((r) => r.suite === 'rd')!.results as Rd[]).find((r) => r.arch === 'unet' && r.method === 'gq' && r.bits === quick.tdcBits && r.seed === 0)!.training.runId;
    const speed = reports.find((r) => r.suite === 'tdc-speed')!.results as Speed[];
    const at = (factor: number, steps: number) => speed.find((r) => r.factor === factor && r.steps === steps)!.training;
    expect(at(1.01, last)).toMatchObject({ runId: rdRun, steps: last, stepsNow: 0 });
    // The shorter count was trained in tdc-speed's own folder, and so was every count of another γ.
    expect(at(1.01, 1).runId).toMatch(/-speed$/);
    expect(at(1.05, last)).toMatchObject({ steps: last, stepsNow: last - 1 });
    expect(at(1.05, last).runId).toMatch(/-speed$/);
    // A shorter step count from that finished γ = 1.05 run would be a model trained past its label.
    const ctx = { outDir: out, size: quick, workers: 1, backend: 'wasm' as const, quiet: true, command: 'test', log: () => undefined };
    const shorter = benchConfig(ctx, 'unet', { method: 'gq', bits: quick.tdcBits, tdcFactor: 1.05, steps: 1 });
    const error = await withTrainedModel(ctx, shorter, async () => undefined, speedRunId(shorter)).catch((e: unknown) => e);
    expect(isGqError(error) && error.code).toBe('resume-ahead');
    expect((error as Error).message).toMatch(/-speed\/checkpoint\.safetensors for 1 steps: it is at step 2 already/);
  }, 120_000);

  it('rd loads its model from tdc-speed\'s run where that run finished the same configuration first', async () => {
    const fresh = mkdtempSync(join(tmpdir(), 'gq-bench-'));
    const quick = sizeProfile('quick');
    const options = { size: 'quick', outDir: fresh, workers: 1, backend: 'wasm' as const, quiet: true, command: 'test', log: () => undefined };
    await runBench({ ...options, suites: ['tdc-speed'] });
    const [rd] = await runBench({ ...options, suites: ['rd'], part: { archs: ['unet'], bits: [quick.tdcBits] } });
    type Rd = { method: string; seed: number; training: { runId: string; steps: number; stepsNow: number } };
    const rows = rd!.results as Rd[];
    const gq = rows.find((r) => r.method === 'gq' && r.seed === 0)!.training;
    expect(gq.runId).toMatch(/^unet-gq-b4-.*-speed$/);
    expect([gq.steps, gq.stepsNow]).toEqual([quick.steps, 0]);
    // Every other model, seed 1's GQ included, trained in its own folder.
    for (const r of rows) if (r.training !== gq) expect([r.training.runId.endsWith('-speed'), r.training.stepsNow]).toEqual([false, quick.steps]);
    rmSync(fresh, { recursive: true, force: true });
  }, 120_000);

  it('resumes: a second run measures nothing and reads every configuration back', async () => {
    const again = await runBench({ suites: ['tdc', 'm-sweep'], size: 'quick', outDir: out, workers: 1, backend: 'wasm', quiet: true, command: 'test', log: () => undefined });
    for (const report of again) {
      expect(report.measuredNow).toBe(0);
      expect(report.cached).toBeGreaterThan(0);
    }
    const first = reports.find((r) => r.suite === 'tdc')!;
    expect(again[0]!.results).toEqual(first.results);
  }, 120_000);
  it('keeps results as <results>/<suite>/<key>.json with their provenance, and skips kept configurations', async () => {
    const results = mkdtempSync(join(tmpdir(), 'gq-results-'));
    // Training resumes from the first run's checkpoints in out/runs: only the results are written anew.
    const [mSweep] = await runBench({ suites: ['m-sweep'], size: 'quick', outDir: out, resultsDir: results, workers: 1, backend: 'wasm', quiet: true, command: 'test', log: () => undefined });
    expect(mSweep!.measuredNow).toBe(sizeProfile('quick').mSweep.dims.length);
    const files = readdirSync(join(results, 'm-sweep'));
    expect(files).toHaveLength(mSweep!.measuredNow);
    for (const file of files) {
      const kept = JSON.parse(readFileSync(join(results, 'm-sweep', file), 'utf8')) as { suite: string; key: string; size: string; machine: { commit: string }; measureSeconds: number; training: { runId: string; steps: number } };
      expect([kept.suite, `${kept.key}.json`, kept.size]).toEqual(['m-sweep', file, 'quick']);
      expect(kept.training.runId).toMatch(/-s0-/);
      expect(kept.training.steps).toBe(sizeProfile('quick').steps);
      expect(kept.measureSeconds).toBeGreaterThan(0);
      // Metrics and provenance only: no weights.
      expect(readFileSync(join(results, 'm-sweep', file)).length).toBeLessThan(20_000);
    }
    const [again] = await runBench({ suites: ['m-sweep'], size: 'quick', outDir: out, resultsDir: results, workers: 1, backend: 'wasm', quiet: true, command: 'test', log: () => undefined });
    expect([again!.measuredNow, again!.cached]).toEqual([0, files.length]);
  }, 120_000);

  it('--archs/--bits run part of the rd grid, and its kept results count for the whole size', async () => {
    const results = mkdtempSync(join(tmpdir(), 'gq-results-'));
    const quick = sizeProfile('quick');
    const part = { archs: [quick.rdArchs[0]!], bits: [quick.rdBits[0]!] };
    const [partRd] = await runBench({ suites: ['rd'], size: 'quick', part, outDir: out, resultsDir: results, workers: 1, backend: 'wasm', quiet: true, command: 'test', log: () => undefined });
    const kept = readdirSync(join(results, 'rd'));
    expect(kept).toHaveLength(partRd!.measuredNow);
    expect(kept.every((f) => f.startsWith(`${part.archs[0]}-`) && f.includes(`-b${part.bits[0]}-`))).toBe(true);
    const [whole] = await runBench({ suites: ['rd'], size: 'quick', outDir: out, resultsDir: results, workers: 1, backend: 'wasm', quiet: true, command: 'test', log: () => undefined });
    expect(whole!.cached).toBe(kept.length);
    expect(whole!.measuredNow + whole!.cached).toBe(quick.rdArchs.length * quick.rdBits.length * kept.length);
  }, 120_000);

  it('report mode builds every report from kept results alone and lists what is missing with its cost', async () => {
    // The first run's configs/ folders, moved into the results layout, one suite left out.
    const results = mkdtempSync(join(tmpdir(), 'gq-results-'));
    for (const suite of suiteNames) if (suite !== 'k-sweep') cpSync(join(out, suite, 'configs'), join(results, suite), { recursive: true });
    // One result from another commit: kept, used, and named with its commit.
    const tdcFile = readdirSync(join(results, 'tdc'))[0]!;
    const tdcResult = JSON.parse(readFileSync(join(results, 'tdc', tdcFile), 'utf8')) as { machine: { commit: string } };
    writeFileSync(join(results, 'tdc', tdcFile), JSON.stringify({ ...tdcResult, machine: { ...tdcResult.machine, commit: 'f'.repeat(40) } }));
    const reportOut = mkdtempSync(join(tmpdir(), 'gq-report-'));
    const resultsFile = join(reportOut, 'RESULTS.md');
    const built = await runBench({ suites: [], size: 'quick', outDir: reportOut, resultsDir: results, reportOnly: true, resultsFile, workers: 1, backend: 'wasm', quiet: true, command: 'gq-bench report --size quick', log: () => undefined });
    expect(built.map((r) => r.suite)).toEqual(suiteNames.filter((s) => s !== 'k-sweep'));
    for (const report of built) expect(report.measuredNow).toBe(0);
    // Nothing was trained.
    expect(existsSync(join(reportOut, 'runs'))).toBe(false);
    expect(built.find((r) => r.suite === 'tdc')!.notes.join(' ')).toContain(`${tdcFile.replace(/\.json$/, '')} @ ffffffffff`);
    const keptTdc = built.find((r) => r.suite === 'tdc')!.results as { key: string; machine: { commit: string } }[];
    expect(keptTdc.filter((r) => r.machine.commit === 'f'.repeat(40)).map((r) => `${r.key}.json`)).toEqual([tdcFile]);
    expect(keptTdc.map((r) => ({ ...r, machine: undefined }))).toEqual((reports.find((r) => r.suite === 'tdc')!.results as object[]).map((r) => ({ ...r, machine: undefined })));
    const md = readFileSync(resultsFile, 'utf8');
    expect(md).toContain('## Missing');
    expect(md).toMatch(/k-sweep: no kept result for configuration .*-k1-3/);
    expect(md).toMatch(/\| k-sweep \| 1 \| 0 \| 2 \| 1 min \| missing \(0 results kept; 1 model\(s\) to train, 1 min\) \|/);
    expect(md).toMatch(/\| rd \| 10 \| 10 \| 40 \| \d+ min \| complete \|/);
    rmSync(reportOut, { recursive: true });
  }, 120_000);

  it('report mode reports the complete part of an incomplete suite, marks its verdicts partial, and takes several sizes', async () => {
    const results = mkdtempSync(join(tmpdir(), 'gq-results-'));
    for (const suite of suiteNames) cpSync(join(out, suite, 'configs'), join(results, suite), { recursive: true });
    // The ViT's seed-1 rd model is missing: the largest complete part is the UNet with both seeds.
    const vitSeed1 = readdirSync(join(results, 'rd')).filter((f) => f.startsWith('vit-') && /-s1-/.test(f));
    expect(vitSeed1.length).toBeGreaterThan(0);
    for (const f of vitSeed1) rmSync(join(results, 'rd', f));
    const reportOut = mkdtempSync(join(tmpdir(), 'gq-report-'));
    const resultsFile = join(reportOut, 'RESULTS.md');
    // Results per size under one folder ('<size>' stands for each size's name): quick's are partial, small has none.
    const sizesDir = mkdtempSync(join(tmpdir(), 'gq-sizes-'));
    cpSync(results, join(sizesDir, 'quick'), { recursive: true });
    const reports = await runBench({
      suites: ['rd', 'tdc'],
      size: 'quick,small',
      outDir: join(reportOut, '<size>'),
      resultsDir: join(sizesDir, '<size>'),
      reportOnly: true,
      resultsFile,
      workers: 1,
      backend: 'wasm',
      quiet: true,
      command: 'gq-bench report rd tdc --size quick,small',
      log: () => undefined,
    });
    expect(reports.map((r) => `${r.suite}@${r.size}`)).toEqual(['rd@quick', 'tdc@quick']);
    const rd = reports[0]!;
    expect(rd.notes[0]).toBe('Partial: the kept results cover unet only (of unet + vit); the tables and verdicts use that part alone.');
    expect((rd.results as { arch: string; seed: number }[]).map((r) => `${r.arch}${r.seed}`).sort()).toEqual(['unet0', 'unet0', 'unet0', 'unet0', 'unet0', 'unet1', 'unet1', 'unet1', 'unet1', 'unet1']);
    for (const claim of rd.claims) expect(claim.measured.startsWith('[partial: unet only (of unet + vit)] ')).toBe(true);
    const md = readFileSync(resultsFile, 'utf8');
    expect(md).toContain('## Size `quick`: Fashion-MNIST (bundled sample)');
    expect(md).toContain('## Size `small`: Fashion-MNIST (bundled sample)');
    // The verdict matrix: rd's claims partial at quick, not measured at small.
    expect(md).toMatch(/\| 9 \| [^|]+ \| (reproduces|does not reproduce|inconclusive) \(partial\) \| not measured \|/);
    // rd at quick trains 20 models; 15 are kept, and the five missing ViT models are costed.
    expect(md).toMatch(/\| rd \| 10 \| 10 \| 40 \| [^|]+ \| missing \(15 results kept; 5 model\(s\) to train, [^)]+\); reported: unet only \(of unet \+ vit\) \|/);
    expect(md).toContain('(reported: unet only (of unet + vit))');
    // Plots go to one folder per size.
    expect(existsSync(join(reportOut, 'docs', 'results', 'quick', 'rd-unet.svg'))).toBe(true);
    rmSync(reportOut, { recursive: true });
    rmSync(sizesDir, { recursive: true });
    // A size that runs only some suites leaves the others out, and refuses a run of those alone.
    const photos = { outDir: join(tmpdir(), 'gq-none-<size>'), resultsDir: join(tmpdir(), 'gq-none-<size>'), reportOnly: true, workers: 1, backend: 'wasm' as const, quiet: true, command: 'test', log: () => undefined };
    await expect(runBench({ ...photos, suites: ['k-sweep'], size: 'medium-photos' })).rejects.toThrow(/size 'medium-photos' runs only the suites rd, tdc, tdc-speed, got k-sweep/);
  }, 120_000);

  it('plots error bars of y ± e inside the plot range', () => {
    const svg = linePlot({ title: 't', xLabel: 'x', yLabel: 'y', series: [{ name: 'a', points: [[0, 10], [1, 20]], errors: [5, 0] }] });
    const bars = [...svg.matchAll(/<line class="error-bar" x1="([\d.]+)" y1="([\d.]+)" x2="[\d.]+" y2="([\d.]+)"/g)].map((m) => m.slice(1).map(Number));
    // One bar (the second point has none); the y range [5, 20] padded 5 % puts 5 and 15 at these pixels.
    expect(bars).toHaveLength(1);
    const sy = (y: number) => 400 - 56 - ((y - (5 - 0.75)) / (15 * 1.1)) * (400 - 40 - 56);
    expect(bars[0]![1]).toBeCloseTo(sy(15), 0);
    expect(bars[0]![2]).toBeCloseTo(sy(5), 0);
    // Three series with error bars at the same x are drawn side by side, centred on the true x.
    const dodged = linePlot({
      title: 't',
      xLabel: 'x',
      yLabel: 'y',
      series: [0, 1, 2].map((k) => ({ name: `s${k}`, points: [[0, 10], [1, 12]] as Array<[number, number]>, errors: [1, 1] })),
    });
    const xs = [...dodged.matchAll(/<line class="error-bar" x1="([\d.]+)"/g)].map((m) => Number(m[1]));
    expect(xs).toHaveLength(6);
    const atZero = [xs[0]!, xs[2]!, xs[4]!];
    expect(atZero[1]! - atZero[0]!).toBeCloseTo(6, 1);
    expect(atZero[2]! - atZero[1]!).toBeCloseTo(6, 1);
    const undodged = linePlot({ title: 't', xLabel: 'x', yLabel: 'y', series: [{ name: 'a', points: [[0, 10], [1, 12]], errors: [1, 1] }] });
    const centre = Number(/<line class="error-bar" x1="([\d.]+)"/.exec(undodged)![1]);
    expect(atZero[1]!).toBeCloseTo(centre, 1);
    expect(() => linePlot({ title: 't', xLabel: 'x', yLabel: 'y', series: [{ name: 'a', points: [[0, 1]], errors: [1, 2] }] })).toThrow(/has 2 errors for 1 points/);
    expect(() => linePlot({ title: 't', xLabel: 'x', yLabel: 'y', series: [{ name: 'a', points: [[0, 1]], errors: [-1] }] })).toThrow(/errors must be finite and ≥ 0, got -1/);
  });

  it('counts the models each suite trains as the suites walk the grid', () => {
    const quick = sizeProfile('quick');
    const byName = Object.fromEntries(reports.map((r) => [r.suite, r]));
    const runsOf = (suite: string) => new Set((byName[suite]!.results as { training?: { runId: string } }[]).flatMap((r) => (r.training !== undefined ? [r.training.runId] : [])));
    const rdRuns = runsOf('rd');
    for (const cost of suiteCosts(quick)) {
      const all = runsOf(cost.suite);
      if (cost.note !== undefined) continue;
      // A suite's models shared with rd are rd's runs (tdc's TDC models at quick: one per seed; tdc-speed's last count at γ = 1.01).
      const runIds = cost.shared === undefined ? all : new Set([...all].filter((id) => !rdRuns.has(id)));
      expect(all.size - runIds.size, cost.suite).toBe(cost.shared?.runs ?? 0);
      // Models trained = distinct training runs among the suite's results, per backbone.
      expect([cost.models.unet, cost.models.vit], cost.suite).toEqual([[...runIds].filter((id) => id.startsWith('unet-')).length, [...runIds].filter((id) => id.startsWith('vit-')).length]);
    }
    // tdc-speed trains each γ's run to its longest count, less the stretch rd's model covers: γ = 1.01 stops at 1 of 2 steps.
    expect(suiteCosts(quick).find((c) => c.suite === 'tdc-speed')!.steps.unet).toBe(2 + 1);
    const medium = sizeProfile('medium');
    const rd = suiteCosts(medium).find((c) => c.suite === 'rd')!;
    expect(rd.steps).toEqual({ unet: 30 * stepsOf(medium, 'unet'), vit: 30 * stepsOf(medium, 'vit') });
    expect(estimatedSeconds(rd, { unet: 2, vit: 3 })).toBe(30 * stepsOf(medium, 'unet') * 2 + 30 * stepsOf(medium, 'vit') * 3);
    expect(estimatedSeconds(rd, { unet: 2 })).toBeUndefined();
    // --steps sets both backbones.
    expect(stepsOf(sizeProfile('medium', { steps: 9 }), 'vit')).toBe(9);
  });
});

describe('gq-bench building blocks', () => {
  it('rejects non-finite numbers, unknown suites and sizes with clear messages', () => {
    expect(() => assertFinite({ a: [1, { b: Number.NaN }] })).toThrow(/every number must be finite, got NaN at \$\.a\[1\]\.b/);
    expect(() => assertFinite({ ok: [1, 2, null, 'x'] })).not.toThrow();
    expect(() => resolveSuites(['rd', 'speedy'])).toThrow(BenchError);
    expect(() => resolveSuites(['speedy'])).toThrow(/suite must be one of all, rd, tdc, k-sweep, m-sweep, tokenbridge, beta, seeds, controller, tdc-speed, speed, got 'speedy'/);
    expect(resolveSuites(['speed', 'rd'])).toEqual(['rd', 'speed']);
    expect(() => sizeProfile('huge')).toThrow(/--size must be one of quick, small, medium, medium-photos, full, got 'huge'/);
    expect(sizeProfile('small', { steps: 7 }).name).toBe('small+steps=7');
  });

  it('writes RESULTS.md by default only for a report of every suite', () => {
    expect(defaultResultsFile(true, [])).toBe('RESULTS.md');
    expect(defaultResultsFile(true, ['all'])).toBe('RESULTS.md');
    expect(defaultResultsFile(true, ['tdc', 'tdc-speed'])).toBeUndefined();
    expect(defaultResultsFile(false, [])).toBeUndefined();
    expect(defaultResultsFile(true, ['tdc'], 'out.md')).toBe('out.md');
    expect(defaultResultsFile(false, ['rd'], 'RESULTS.md')).toBe('RESULTS.md');
  });

  it('a grid part keeps the size and its name, and must name some of its backbones and rates', async () => {
    const medium = sizeProfile('medium');
    const part = gridPart(medium, { archs: ['vit'], bits: [8] });
    expect([part.name, part.rdArchs, part.rdBits, part.steps]).toEqual(['medium', ['vit'], [8], medium.steps]);
    expect(gridPart(medium, { bits: [8, 4] }).rdBits).toEqual(medium.rdBits);
    expect(() => gridPart(medium, { bits: [5] })).toThrow(/--bits must name some of size 'medium''s 4, 8, got '5'/);
    expect(() => gridPart(medium, { archs: [] })).toThrow(/--archs must name some of size 'medium''s unet, vit, got ''/);
    await expect(runBench({ suites: ['rd'], size: 'medium', reportOnly: true, part: { archs: ['unet'] }, outDir: 'unused', workers: 1, backend: 'wasm', command: 'test' })).rejects.toThrow(
      /--archs and --bits choose what to train/,
    );
  });

  it('nice ticks are 1-2-5 multiples covering the range', () => {
    expect(niceTicks(0, 10, 5)).toEqual([0, 2, 4, 6, 8, 10]);
    expect(niceTicks(0.13, 0.87, 4)).toEqual([0.2, 0.4, 0.6, 0.8]);
    expect(niceTicks(-3, 3, 6)).toEqual([-3, -2, -1, 0, 1, 2, 3]);
  });

  it('plots place points on the axes by their values, and refuse non-finite points', () => {
    const svg = linePlot({ title: 't', xLabel: 'x', yLabel: 'y', series: [{ name: 'a', points: [[0, 0], [10, 10]] }] });
    // The range [0, 10] is padded by 5 % each side to [−0.5, 10.5]; the plot area starts at x = 70 and is 400 px wide.
    const circles = [...svg.matchAll(/<circle cx="([\d.]+)" cy="([\d.]+)"/g)].map((m) => [Number(m[1]), Number(m[2])]);
    expect(circles[0]![0]).toBeCloseTo(70 + (400 * 0.5) / 11, 0);
    expect(circles[1]![0]).toBeCloseTo(70 + (400 * 10.5) / 11, 0);
    expect(circles[0]![1]).toBeGreaterThan(circles[1]![1]!);
    expect(svg).toContain('>a</text>');
    expect(() => linePlot({ title: 't', xLabel: 'x', yLabel: 'y', series: [{ name: 'a', points: [[0, Number.NaN]] }] })).toThrow(/points must be finite/);
    expect(() => barPlot({ title: 'b', xLabel: 'x', yLabel: 'y', categories: ['p', 'q'], series: [{ name: 's', values: [1] }] })).toThrow(/has 1 values for 2 categories/);
    const bars = barPlot({ title: 'b', xLabel: 'x', yLabel: 'y', categories: ['p', 'q'], series: [{ name: 's', values: [1, 2] }] });
    const heights = [...bars.matchAll(/<rect [^>]*height="([\d.]+)" fill="#[0-9a-f]+" fill-opacity/g)].map((m) => Number(m[1]));
    expect(heights).toHaveLength(2);
    expect(heights[1]! / heights[0]!).toBeCloseTo(2, 2);
  });

  it('markdown tables format numbers by column digits', () => {
    const md = markdownTable({ title: 'T', columns: ['a', 'b'], digits: [1, 3], rows: [[1.25, 'x'], [3, 2 / 3]] });
    expect(md.split('\n')).toEqual(['**T**', '', '| a | b |', '|---|---|', '| 1.3 | x |', '| 3 | 0.667 |']);
  });
});
