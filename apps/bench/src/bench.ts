import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { isGqError } from '@gq/core';
import type { BackendName } from '@gq/runtime';
import { resolveConfig } from '@gq/training';
import { estimatedSeconds, hours, suiteCosts, totalSeconds, type StepSeconds, type SuiteCost } from './cost.js';
import { BenchError } from './errors.js';
import { describeMachine, machineInfo } from './machine.js';
import { markdownTable, suiteMarkdown, suiteNames, writeSuiteReport, writeText, type ClaimCheck, type SuiteName, type SuiteReport } from './report.js';
import type { BenchContext, TrainingRecord } from './runs.js';
import { datasetLabel, sizeProfile, type Arch, type SizeOverrides, type SizeProfile } from './sizes.js';
import type { Suite } from './suite.js';
import { betaSuite } from './suites/beta.js';
import { controllerSuite } from './suites/controller.js';
import { kSweepSuite } from './suites/k-sweep.js';
import { mSweepSuite } from './suites/m-sweep.js';
import { rdSuite } from './suites/rd.js';
import { seedsSuite } from './suites/seeds.js';
import { speedSuite } from './suites/speed.js';
import { tdcSuite } from './suites/tdc.js';
import { tdcSpeedSuite } from './suites/tdc-speed.js';
import { tokenBridgeSuite } from './suites/tokenbridge.js';

export const suites: Readonly<Record<SuiteName, Suite>> = {
  rd: rdSuite,
  tdc: tdcSuite,
  'k-sweep': kSweepSuite,
  'm-sweep': mSweepSuite,
  tokenbridge: tokenBridgeSuite,
  beta: betaSuite,
  seeds: seedsSuite,
  controller: controllerSuite,
  'tdc-speed': tdcSpeedSuite,
  speed: speedSuite,
};

export interface BenchOptions {
  readonly suites: readonly string[];
  readonly size: string;
  readonly overrides?: SizeOverrides;
  /**
   * Train only part of the size's rd grid (rd, beta and seeds walk it): these backbones and these
   * bits per position, each a subset of the size's. The size keeps its name and its kept results
   * (configurations are keyed by their own settings), so the rest of the grid can follow in a later run.
   */
  readonly part?: GridPart;
  /** Suite reports and training runs (checkpoints), e.g. the ignored `runs/bench-<size>`. */
  readonly outDir: string;
  /**
   * Where each configuration's result is kept, `<resultsDir>/<suite>/<key>.json`: small JSON files
   * (metrics and provenance, no weights) meant to be committed, e.g. `results/<size>`. Default:
   * `<outDir>/<suite>/configs/`.
   */
  readonly resultsDir?: string;
  /**
   * Train and measure nothing: build the reports from the kept results alone, and list in the
   * combined file each suite whose results are incomplete with its estimated training cost.
   */
  readonly reportOnly?: boolean;
  readonly workers: number;
  readonly backend: BackendName;
  readonly quiet?: boolean;
  /** Also write one combined markdown file (RESULTS.md) with the plots copied next to it. */
  readonly resultsFile?: string;
  /** Folder for the combined file's plots (default `docs/results` beside it). */
  readonly plotsDir?: string;
  readonly command: string;
  readonly log?: (line: string) => void;
}

/**
 * The combined markdown file a command writes: the one it names; else RESULTS.md for a report of
 * every suite (no suite named, or 'all'), so that a report of some suites cannot replace the whole file.
 */
export function defaultResultsFile(reportOnly: boolean, suites: readonly string[], named?: string): string | undefined {
  if (named !== undefined) return named;
  return reportOnly && (suites.length === 0 || suites.includes('all')) ? 'RESULTS.md' : undefined;
}

export function resolveSuites(names: readonly string[]): SuiteName[] {
  if (names.length === 0 || names.includes('all')) return [...suiteNames];
  for (const name of names) {
    if (!(suiteNames as readonly string[]).includes(name)) throw new BenchError('bad-option', `suite must be one of all, ${suiteNames.join(', ')}, got '${name}'`);
  }
  return suiteNames.filter((s) => names.includes(s));
}

/** Part of a size's rd grid to run (`BenchOptions.part`). */
export interface GridPart {
  readonly archs?: readonly Arch[];
  readonly bits?: readonly number[];
}

/** The size with its rd grid cut to `part`, which must name a non-empty subset of each list; no part, the size itself. */
export function gridPart(size: SizeProfile, part: GridPart | undefined): SizeProfile {
  if (part === undefined) return size;
  const pick = <T>(option: string, chosen: readonly T[] | undefined, all: readonly T[]): readonly T[] => {
    if (chosen === undefined) return all;
    const outside = chosen.filter((c) => !all.includes(c));
    if (chosen.length === 0 || outside.length > 0) {
      throw new BenchError('bad-option', `--${option} must name some of size '${size.name}''s ${all.join(', ')}, got '${chosen.join(',')}'`);
    }
    return all.filter((a) => chosen.includes(a));
  };
  return { ...size, rdArchs: pick('archs', part.archs, size.rdArchs), rdBits: pick('bits', part.bits, size.rdBits) };
}

/** What one size contributed to a run: its reports, the suites it could not complete, and its wall time. */
export interface SizeRun {
  readonly size: SizeProfile;
  /** The suites run (or reported) at this size. */
  readonly suites: readonly SuiteName[];
  readonly reports: SuiteReport[];
  readonly incomplete: IncompleteSuite[];
  readonly wallSeconds: number;
  /** Where this size's results are kept and its reports written (placeholders resolved). */
  readonly resultsDir?: string;
  readonly outDir: string;
}

/** `dir` with every `<size>` replaced by the size's name (so one option can name a folder per size). */
function forSize(dir: string, size: SizeProfile): string {
  return dir.replaceAll('<size>', size.name);
}

/**
 * Run the chosen suites (resumably) and write each suite's report.json, report.md and SVGs under
 * outDir/<suite>/. `options.size` may name several sizes separated by commas in report mode: each
 * gets its own section of the combined file.
 */
export async function runBench(options: BenchOptions): Promise<SuiteReport[]> {
  const sizeNames = options.size.split(',').map((s) => s.trim());
  if (sizeNames.length > 1 && options.reportOnly !== true) {
    throw new BenchError('bad-option', `--size names several sizes (${options.size}) only in report mode; run one size at a time`);
  }
  if (options.part !== undefined && options.reportOnly === true) {
    throw new BenchError('bad-option', '--archs and --bits choose what to train; a report covers the whole grid of its kept results, got them with report');
  }
  const runs: SizeRun[] = [];
  for (const name of sizeNames) runs.push(await runSize(options, name));
  if (options.resultsFile !== undefined) writeResults(options, runs);
  return runs.flatMap((r) => r.reports);
}

/** The suites to run at `size`: those named (or all), within the size's own suites where it has them. */
function suitesAt(names: readonly string[], size: SizeProfile): SuiteName[] {
  const chosen = resolveSuites(names);
  if (size.suites === undefined) return chosen;
  const within = chosen.filter((s) => size.suites!.includes(s));
  // Suites outside the size's are left out (a report names them for its other sizes); naming only such suites is an error.
  if (within.length === 0) throw new BenchError('bad-option', `size '${size.name}' runs only the suites ${size.suites.join(', ')}, got ${chosen.join(', ')}`);
  return within;
}

async function runSize(options: BenchOptions, sizeName: string): Promise<SizeRun> {
  if (!Number.isInteger(options.workers) || options.workers < 1) throw new BenchError('bad-option', `--workers must be a positive integer, got ${options.workers}`);
  const size = gridPart(sizeProfile(sizeName, options.overrides), options.part);
  const chosen = suitesAt(options.suites, size);
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const outDir = forSize(options.outDir, size);
  const resultsDir = options.resultsDir !== undefined ? forSize(options.resultsDir, size) : undefined;
  const ctx: BenchContext = {
    outDir,
    ...(resultsDir !== undefined ? { resultsDir } : {}),
    ...(options.reportOnly === true ? { reportOnly: true } : {}),
    size,
    workers: options.workers,
    backend: options.backend,
    quiet: options.quiet ?? false,
    command: options.command,
    log,
  };
  const started = performance.now();
  const reports: SuiteReport[] = [];
  const incomplete: IncompleteSuite[] = [];
  for (const name of chosen) {
    log(`gq-bench: suite ${name} (${size.name})${options.reportOnly === true ? ', kept results only' : ''}`);
    try {
      const { report, svgs } = await suites[name](ctx);
      writeSuiteReport(join(outDir, name), report, svgs);
      reports.push(report);
    } catch (error) {
      if (options.reportOnly !== true || !isGqError(error) || error.code !== 'result-missing') throw error;
      log(`  ${error.message}`);
      const partial = await partialReport(name, ctx);
      if (partial !== undefined) {
        writeSuiteReport(join(outDir, name), partial.report, partial.svgs);
        reports.push(partial.report);
      }
      incomplete.push({ suite: name, kept: keptResults(resultsDir, outDir, name), firstMissing: error.message, ...(partial !== undefined ? { partial: partial.description } : {}) });
    }
  }
  return { size, suites: chosen, reports, incomplete, wallSeconds: (performance.now() - started) / 1000, ...(resultsDir !== undefined ? { resultsDir } : {}), outDir };
}

/** Suites whose grid walks the rd backbones and bit rates (the others walk seeds only, or neither). */
const gridSuites: ReadonlySet<SuiteName> = new Set(['rd', 'beta', 'seeds']);

/** Part of a size's grid: some of its rd backbones and rates, its first `seeds` seeds, and tdc-speed's first step counts. */
interface Restriction {
  readonly archs: readonly Arch[];
  readonly bits: readonly number[];
  readonly seeds: number;
  readonly speedSteps: readonly number[];
}

function subsets<T>(items: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let mask = 1; mask < 1 << items.length; mask++) out.push(items.filter((_, i) => (mask >> i) & 1));
  return out;
}

/**
 * The restrictions of `size` a partial report tries for `suite`, largest first (configurations,
 * then seeds): every sub-grid of backbones × rates for the grid suites, fewer seeds for all, and
 * for tdc-speed its shorter step counts (each γ's run continues through them in order).
 */
function restrictions(suite: SuiteName, size: SizeProfile): Restriction[] {
  const grid = gridSuites.has(suite);
  const archSets = grid ? subsets(size.rdArchs) : [[...size.rdArchs]];
  const bitSets = grid ? subsets(size.rdBits) : [[...size.rdBits]];
  const ascending = [...size.tdcSpeed.steps].sort((a, b) => a - b);
  const stepSets = suite === 'tdc-speed' ? ascending.map((_, i) => ascending.slice(0, i + 1)) : [ascending];
  const out: Restriction[] = [];
  for (const archs of archSets) {
    for (const bits of bitSets) for (const speedSteps of stepSets) for (let seeds = size.seeds; seeds >= 1; seeds--) out.push({ archs, bits, seeds, speedSteps });
  }
  const weight = (r: Restriction) => r.archs.length * r.bits.length * r.seeds * r.speedSteps.length;
  return out
    .filter((r) => r.archs.length < size.rdArchs.length || r.bits.length < size.rdBits.length || r.seeds < size.seeds || r.speedSteps.length < ascending.length)
    .sort((a, b) => weight(b) - weight(a) || b.seeds - a.seeds);
}

/** What a restriction leaves in, in words. */
function describeRestriction(suite: SuiteName, r: Restriction, size: SizeProfile): string {
  const parts = [];
  if (gridSuites.has(suite) && r.archs.length < size.rdArchs.length) parts.push(`${r.archs.join(' + ')} only (of ${size.rdArchs.join(' + ')})`);
  if (gridSuites.has(suite) && r.bits.length < size.rdBits.length) parts.push(`${r.bits.join(', ')} bits only (of ${size.rdBits.join(', ')})`);
  if (r.seeds < size.seeds) parts.push(`${r.seeds === 1 ? 'seed 0' : `seeds 0–${r.seeds - 1}`} only (of ${size.seeds})`);
  if (r.speedSteps.length < size.tdcSpeed.steps.length) parts.push(`${r.speedSteps.join(', ')} steps only (of ${size.tdcSpeed.steps.join(', ')})`);
  return parts.join(', ');
}

/**
 * The largest complete part of a suite whose kept results are incomplete: the suite run in report
 * mode on each restriction of the size in turn until one has every result kept. Its verdicts are
 * computed from that part alone and say so; undefined when no part is complete.
 */
async function partialReport(suite: SuiteName, ctx: BenchContext): Promise<{ report: SuiteReport; svgs: Readonly<Record<string, string>>; description: string } | undefined> {
  for (const r of restrictions(suite, ctx.size)) {
    const size: SizeProfile = { ...ctx.size, rdArchs: r.archs, rdBits: r.bits, seeds: r.seeds, tdcSpeed: { ...ctx.size.tdcSpeed, steps: r.speedSteps } };
    try {
      const { report, svgs } = await suites[suite]({ ...ctx, size, log: () => undefined });
      const description = describeRestriction(suite, r, ctx.size);
      const mark = (text: string) => `[partial: ${description}] ${text}`;
      return {
        report: {
          ...report,
          claims: report.claims.map((c) => ({ ...c, measured: mark(c.measured) })),
          notes: [`Partial: the kept results cover ${description}; the tables and verdicts use that part alone.`, ...report.notes],
        },
        svgs,
        description,
      };
    } catch (error) {
      if (!isGqError(error) || error.code !== 'result-missing') throw error;
    }
  }
  return undefined;
}

/** A suite that report-only mode could not build in full: results kept so far, the first one missing, and the part reported. */
interface IncompleteSuite {
  readonly suite: SuiteName;
  /** Names of the kept result files (configuration keys + .json). */
  readonly kept: readonly string[];
  readonly firstMissing: string;
  /** The complete part that was reported instead (see `partialReport`), if any. */
  readonly partial?: string;
}

/** The result files kept for `suite` (file names), in the results folder or the output's configs/ folder. */
function keptResults(resultsDir: string | undefined, outDir: string, suite: SuiteName): string[] {
  const dir = resultsDir !== undefined ? join(resultsDir, suite) : join(outDir, suite, 'configs');
  return existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.json')) : [];
}

function keptFiles(resultsDir: string | undefined, outDir: string, suite: SuiteName): string[] {
  const dir = resultsDir !== undefined ? join(resultsDir, suite) : join(outDir, suite, 'configs');
  return keptResults(resultsDir, outDir, suite).map((f) => join(dir, f));
}

/**
 * Seconds per optimiser step of each backbone from the kept results: the median over the models
 * they trained (each counted once), so a few models trained on a busy or paused machine do not
 * move the estimate.
 */
function keptStepSeconds(run: SizeRun): { readonly seconds: StepSeconds; readonly models: Record<Arch, number> } {
  const rates: Record<Arch, number[]> = { unet: [], vit: [] };
  const seen = new Set<string>();
  for (const suite of suiteNames) {
    for (const file of keptFiles(run.resultsDir, run.outDir, suite)) {
      const training = (JSON.parse(readFileSync(file, 'utf8')) as { training?: Partial<TrainingRecord> }).training;
      if (training?.runId === undefined || !training.steps || training.trainSeconds === undefined || seen.has(training.runId)) continue;
      seen.add(training.runId);
      rates[training.runId.startsWith('vit-') ? 'vit' : 'unet'].push(training.trainSeconds / training.steps);
    }
  }
  const median = (values: readonly number[]): number => {
    const sorted = [...values].sort((a, b) => a - b);
    const mid = Math.floor(sorted.length / 2);
    return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  };
  return {
    seconds: Object.fromEntries((['unet', 'vit'] as const).filter((a) => rates[a].length > 0).map((a) => [a, median(rates[a])])) as StepSeconds,
    models: { unet: rates.unet.length, vit: rates.vit.length },
  };
}

/**
 * What is left to train of an incomplete suite: its models per backbone less the kept results of
 * that backbone (result keys start with the backbone), with the same steps per model.
 */
function remainingCost(cost: SuiteCost, kept: readonly string[]): SuiteCost {
  const perModel = cost.resultsPerModel ?? 1;
  const own = kept.filter((k) => cost.ownResult?.(k) ?? true);
  const left = (arch: Arch): number => Math.max(0, cost.models[arch] - own.filter((k) => k.startsWith(`${arch}-`)).length / perModel);
  const steps = (arch: Arch): number => (cost.models[arch] === 0 ? 0 : (left(arch) * cost.steps[arch]) / cost.models[arch]);
  return { ...cost, models: { unet: left('unet'), vit: left('vit') }, steps: { unet: steps('unet'), vit: steps('vit') } };
}

/** The cost table of a size: what each suite trains, its estimated training time, and what is still missing and would cost. */
function costTable(options: BenchOptions, run: SizeRun): string[] {
  const { size, incomplete } = run;
  const { seconds: kept, models: keptModels } = keptStepSeconds(run);
  const perStep: StepSeconds = { ...(size.secondsPerStep !== undefined ? { unet: size.secondsPerStep.unet, vit: size.secondsPerStep.vit } : {}), ...kept };
  const missing = new Map(incomplete.map((i) => [i.suite, i]));
  const costs = suiteCosts(size).filter((c) => run.suites.includes(c.suite));
  const remaining = costs.filter((c) => missing.has(c.suite)).map((c) => (c.note === undefined ? remainingCost(c, missing.get(c.suite)!.kept) : c));
  const source = (arch: Arch): string =>
    kept[arch] !== undefined ? `${kept[arch]!.toFixed(2)} s (median of the ${keptModels[arch]} model(s) the kept results trained)` : size.secondsPerStep !== undefined ? `${size.secondsPerStep[arch].toFixed(2)} s (${size.secondsPerStep.measured})` : 'unknown';
  const status = (c: SuiteCost): string => {
    const m = missing.get(c.suite);
    const shared = c.shared !== undefined ? `; ${c.shared.text}` : '';
    if (m === undefined) return `${options.reportOnly === true ? 'complete' : 'measured'}${shared}`;
    const left = remaining.find((r) => r.suite === c.suite)!;
    const toTrain = c.note === undefined ? `; ${Math.ceil(left.models.unet + left.models.vit)} model(s) to train, ${hours(estimatedSeconds(left, perStep))}` : '';
    return `missing (${m.kept.length} results kept${toTrain})${m.partial !== undefined ? `; reported: ${m.partial}` : ''}${shared}`;
  };
  return [
    markdownTable({
      title: `Training cost of size \`${size.name}\` per suite (models × steps × seconds per step; evaluation not counted)`,
      columns: ['suite', 'UNet models', 'ViT models', 'steps', 'estimated', 'status'],
      rows: costs.map((c) => [c.suite, c.models.unet, c.models.vit, c.steps.unet + c.steps.vit, c.note ?? hours(estimatedSeconds(c, perStep)), status(c)]),
    }),
    '',
    `Seconds per step: UNet ${source('unet')}, ViT ${source('vit')}. ` +
      `Estimated training in all: ${hours(totalSeconds(costs, perStep))}; still to train: ${hours(totalSeconds(remaining.filter((c) => c.note === undefined), perStep))}.`,
  ];
}

function sizeSummary(size: SizeProfile): string {
  const u = size.unet.model;
  const runs = (suite: SuiteName) => size.suites === undefined || size.suites.includes(suite);
  const suites = [
    runs('rd') ? `rd at ${size.rdBits.join(', ')} bits/position on ${size.rdArchs.join(' + ')}` : undefined,
    runs('tdc') ? `tdc T = ${size.tdcBits}` : undefined,
    runs('k-sweep') ? `k-sweep T = ${size.kSweep.target} ± ${size.kSweep.span} (m = 1)` : undefined,
    runs('m-sweep') ? `m-sweep C = ${size.mSweep.channels}, m ∈ {${size.mSweep.dims.join(', ')}}` : undefined,
    runs('tokenbridge') ? `TokenBridge B = ${size.tokenBridgeBits}` : undefined,
  ].filter((part) => part !== undefined);
  return (
    `size \`${size.name}\`: dataset \`${size.dataset}\`, ${size.steps} steps per configuration${size.vitSteps !== undefined ? ` (ViT ${size.vitSteps})` : ''}, batch ${size.batchSize}, Adam lr ${size.learningRate}, ` +
    `${size.tdcFactor !== undefined ? `TDC γ = ${size.tdcFactor}, ` : ''}` +
    `${size.testImages} held-out images; UNet preset ${size.unet.preset} with ${JSON.stringify(u)}; ` +
    `${suites.join('; ')}; ${size.seeds} seed(s) per quality cell` +
    (runs('tdc-speed') ? `; tdc-speed γ ∈ {${size.tdcSpeed.factors.join(', ')}} at ${size.tdcSpeed.steps.join(', ')} steps` : '')
  );
}

function reading(claims: readonly ClaimCheck[]): string[] {
  const by = (v: ClaimCheck['verdict']) => claims.filter((c) => c.verdict === v).map((c) => c.claim);
  const yes = by('reproduces');
  const no = by('does not reproduce');
  const open = by('inconclusive');
  return [
    `- Reproduce here (criterion met in this run): ${yes.length > 0 ? `claims ${yes.join(', ')}` : 'none'}.`,
    `- Do not reproduce here: ${no.length > 0 ? `claims ${no.join(', ')}` : 'none'}.`,
    `- Inconclusive or not measured: ${open.length > 0 ? `claims ${open.join(', ')}` : 'none'}.`,
    ...claims.filter((c) => c.reading !== undefined).map((c) => `- Claim ${c.claim} (${c.verdict}): ${c.reading}`),
    '- Scale caveat: these models are tiny and trained for minutes on two shared cores, far from convergence; the paper used ImageNet 256² on 8 GPUs. ' +
      'A claim that fails here may hold with training to convergence, and one that holds here is only weak evidence. Each verdict is a fixed, stated criterion; quality cells are compared over seeds (mean ± sd), and a difference within twice its standard error counts as noise.',
  ];
}

/**
 * Closes the speed section: WebGPU figures on an NVIDIA GPU come from the device check
 * (tools/device-check), which runs on a GPU machine rather than inside gq-bench.
 */
const webgpuDeviceLine =
  '- WebGPU on an NVIDIA GPU (training ms/step at batch 32, GQ search at K = 65 536, m = 16, encode/decode images/s): pending; ' +
  'no GPU machine has run the device check yet (`bash tools/device-check/check.sh`). Lavapipe (a CPU Vulkan driver) figures measure correctness, not GPU speed.\n';

/** The verdict of every claim in each size's section, one row per claim. */
function claimMatrix(runs: readonly SizeRun[]): string {
  const byClaim = new Map<number, { statement: string; verdicts: Map<string, string> }>();
  for (const run of runs) {
    for (const c of run.reports.flatMap((r) => r.claims)) {
      const entry = byClaim.get(c.claim) ?? { statement: c.statement, verdicts: new Map<string, string>() };
      entry.verdicts.set(run.size.name, `${c.verdict}${c.measured.startsWith('[partial') ? ' (partial)' : ''}`);
      byClaim.set(c.claim, entry);
    }
  }
  return markdownTable({
    title: 'Verdicts by size (details, criteria and measurements in each size\'s section)',
    columns: ['claim', 'statement', ...runs.map((r) => r.size.name)],
    rows: [...byClaim.entries()].sort(([a], [b]) => a - b).map(([claim, e]) => [String(claim), e.statement, ...runs.map((r) => e.verdicts.get(r.size.name) ?? 'not measured')]),
  });
}

/** One size's part of the combined file: what ran, what is missing and costs, the verdicts and every suite's tables and plots. */
function sizeSection(options: BenchOptions, run: SizeRun, plotLink: (file: string) => string, level: number): string[] {
  const { size, reports, incomplete } = run;
  const h = '#'.repeat(level);
  const claims = [...reports.flatMap((r) => r.claims)].sort((a, b) => a.claim - b.claim);
  const trained = new Map<string, number>();
  for (const report of reports) {
    for (const result of report.results as { training?: { runId: string; trainSeconds: number } }[]) {
      if (result.training !== undefined) trained.set(result.training.runId, result.training.trainSeconds);
    }
  }
  const trainSeconds = [...trained.values()].reduce((a, s) => a + s, 0);
  const measureSeconds = reports.flatMap((r) => r.results as { measureSeconds?: number }[]).reduce((a, r) => a + (r.measureSeconds ?? 0), 0);
  return [
    `- Wall time: ${measureSeconds.toFixed(0)} s measuring the ${reports.reduce((a, r) => a + r.results.length, 0)} configurations (summed over the invocations that measured them; this invocation: ${run.wallSeconds.toFixed(0)} s); ` +
      `training time recorded in the checkpoints of the ${trained.size} models: ${trainSeconds.toFixed(0)} s (part of the former when a model was trained while measuring)`,
    `- Configuration: ${sizeSummary(size)}`,
    '- Timings come from a shared machine and are noisy; every ratio is taken between rows measured in the same run.',
    '',
    ...(incomplete.length > 0
      ? [
          `${h} Missing`,
          '',
          `${incomplete.length} suite(s) lack kept results: ${incomplete.map((i) => i.suite).join(', ')}. ` +
            'Where part of a suite is complete (some backbones, rates or seeds), that part is reported and its verdicts are marked partial; the rest of the suite is absent below.',
          '',
          ...incomplete.map((i) => `- ${i.firstMissing}${i.partial !== undefined ? ` (reported: ${i.partial})` : ' (nothing reported)'}`),
          '',
        ]
      : []),
    `${h} Cost`,
    '',
    ...costTable(options, run),
    '',
    `${h} Claims`,
    '',
    markdownTable({ title: 'Verdicts', columns: ['claim', 'statement', 'criterion', 'measured', 'verdict'], rows: claims.map((c) => [String(c.claim), c.statement, c.criterion, c.measured, c.verdict]) }),
    '',
    `${h}# Reading`,
    '',
    ...reading(claims),
    '',
    ...reports.flatMap((r) => [suiteMarkdown({ ...r, claims: [] }, plotLink, level), ...(r.suite === 'speed' ? [webgpuDeviceLine] : [])]),
  ];
}

function writeResults(options: BenchOptions, runs: readonly SizeRun[]): void {
  const file = options.resultsFile!;
  const plotsRoot = options.plotsDir ?? join(dirname(file), 'docs', 'results');
  // One plot folder per size when the file has several, so equal plot names do not collide.
  const plotsDirOf = (run: SizeRun): string => (runs.length > 1 ? join(plotsRoot, run.size.name) : plotsRoot);
  for (const run of runs) {
    const dir = plotsDirOf(run);
    mkdirSync(dir, { recursive: true });
    for (const report of run.reports) for (const plot of report.plots) copyFileSync(join(run.outDir, report.suite, plot.file), join(dir, plot.file));
  }
  const machine = machineInfo(options.backend);
  const several = runs.length > 1;
  const lines = [
    `# GQ-TS results: the paper's claims${several ? '' : ` at size \`${runs[0]!.size.name}\``}`,
    '',
    options.reportOnly === true
      ? `Generated by \`gq-bench report\` from the kept results alone (${runs.map((r) => `\`${r.resultsDir ?? r.outDir}\``).join(', ')}; nothing was trained); do not edit by hand. Regenerate with:`
      : 'Generated by `gq-bench`; do not edit by hand. Regenerate (resumes from the saved results, re-measuring only what is missing) with:',
    '',
    '```',
    options.command,
    '```',
    '',
    `- Commit: ${machine.commit}${machine.dirtyFiles > 0 ? ` with ${machine.dirtyFiles} uncommitted tracked files` : ''}`,
    `- Machine: ${describeMachine(machine)}`,
    ...(several
      ? [
          `- Sizes: ${runs.map((r) => `\`${r.size.name}\` (${datasetLabel(r.size.dataset)}, ${resolveConfig({ arch: 'unet', preset: r.size.unet.preset, model: r.size.unet.model }).imageSize} px)`).join(', ')}`,
          '',
          claimMatrix(runs),
          '',
          ...runs.flatMap((run) => {
            const dir = plotsDirOf(run);
            return [`## Size \`${run.size.name}\`: ${datasetLabel(run.size.dataset)}`, '', ...sizeSection(options, run, (f) => relative(dirname(file), join(dir, f)), 3), ''];
          }),
        ]
      : sizeSection(options, runs[0]!, (f) => relative(dirname(file), join(plotsDirOf(runs[0]!), f)), 2)),
  ];
  writeText(file, `${lines.join('\n').trimEnd()}\n`);
}
