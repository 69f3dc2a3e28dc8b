import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { isGqError } from '@gq/core';
import type { BackendName } from '@gq/runtime';
import { estimatedSeconds, hours, suiteCosts, totalSeconds, type StepSeconds } from './cost.js';
import { BenchError } from './errors.js';
import { describeMachine, machineInfo } from './machine.js';
import { markdownTable, suiteMarkdown, suiteNames, writeSuiteReport, writeText, type ClaimCheck, type SuiteName, type SuiteReport } from './report.js';
import type { BenchContext, TrainingRecord } from './runs.js';
import { sizeProfile, type Arch, type SizeOverrides, type SizeProfile } from './sizes.js';
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

export function resolveSuites(names: readonly string[]): SuiteName[] {
  if (names.length === 0 || names.includes('all')) return [...suiteNames];
  for (const name of names) {
    if (!(suiteNames as readonly string[]).includes(name)) throw new BenchError('bad-option', `suite must be one of all, ${suiteNames.join(', ')}, got '${name}'`);
  }
  return suiteNames.filter((s) => names.includes(s));
}

/** Run the chosen suites (resumably) and write each suite's report.json, report.md and SVGs under outDir/<suite>/. */
export async function runBench(options: BenchOptions): Promise<SuiteReport[]> {
  const chosen = resolveSuites(options.suites);
  if (!Number.isInteger(options.workers) || options.workers < 1) throw new BenchError('bad-option', `--workers must be a positive integer, got ${options.workers}`);
  const size = sizeProfile(options.size, options.overrides);
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const ctx: BenchContext = {
    outDir: options.outDir,
    ...(options.resultsDir !== undefined ? { resultsDir: options.resultsDir } : {}),
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
      writeSuiteReport(join(options.outDir, name), report, svgs);
      reports.push(report);
    } catch (error) {
      if (options.reportOnly !== true || !isGqError(error) || error.code !== 'result-missing') throw error;
      incomplete.push({ suite: name, kept: keptResults(options, name).length, firstMissing: error.message });
      log(`  ${error.message}`);
    }
  }
  if (options.resultsFile !== undefined) {
    writeResults(options, size, reports, incomplete, (performance.now() - started) / 1000);
  }
  return reports;
}

/** A suite that report-only mode could not build: results kept so far and the first one missing. */
interface IncompleteSuite {
  readonly suite: SuiteName;
  readonly kept: number;
  readonly firstMissing: string;
}

/** The result files kept for `suite` (names), in the results folder or the output's configs/ folder. */
function keptResults(options: BenchOptions, suite: SuiteName): string[] {
  const dir = options.resultsDir !== undefined ? join(options.resultsDir, suite) : join(options.outDir, suite, 'configs');
  return existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.json')).map((f) => join(dir, f)) : [];
}

/** Mean training seconds per step of each backbone over the kept results that record their training. */
function keptStepSeconds(options: BenchOptions): StepSeconds {
  const sums: Record<Arch, { seconds: number; steps: number }> = { unet: { seconds: 0, steps: 0 }, vit: { seconds: 0, steps: 0 } };
  const seen = new Set<string>();
  for (const suite of suiteNames) {
    for (const file of keptResults(options, suite)) {
      const training = (JSON.parse(readFileSync(file, 'utf8')) as { training?: Partial<TrainingRecord> }).training;
      if (training?.runId === undefined || training.steps === undefined || training.trainSeconds === undefined || seen.has(training.runId)) continue;
      seen.add(training.runId);
      const arch: Arch = training.runId.startsWith('vit-') ? 'vit' : 'unet';
      sums[arch].seconds += training.trainSeconds;
      sums[arch].steps += training.steps;
    }
  }
  return Object.fromEntries((['unet', 'vit'] as const).filter((a) => sums[a].steps > 0).map((a) => [a, sums[a].seconds / sums[a].steps])) as StepSeconds;
}

/** The cost table of a size: what each suite trains and its estimated training time, marking the suites still missing. */
function costTable(options: BenchOptions, size: SizeProfile, incomplete: readonly IncompleteSuite[]): string[] {
  const kept = keptStepSeconds(options);
  const perStep: StepSeconds = { ...(size.secondsPerStep !== undefined ? { unet: size.secondsPerStep.unet, vit: size.secondsPerStep.vit } : {}), ...kept };
  const missing = new Map(incomplete.map((i) => [i.suite, i]));
  const costs = suiteCosts(size).filter((c) => resolveSuites(options.suites).includes(c.suite));
  const source = (arch: Arch): string =>
    kept[arch] !== undefined ? `${kept[arch]!.toFixed(2)} s (mean of the kept results)` : size.secondsPerStep !== undefined ? `${size.secondsPerStep[arch].toFixed(2)} s (${size.secondsPerStep.measured})` : 'unknown';
  return [
    markdownTable({
      title: `Training cost of size \`${size.name}\` per suite (models × steps × seconds per step; evaluation not counted)`,
      columns: ['suite', 'UNet models', 'ViT models', 'steps', 'estimated', 'status'],
      rows: costs.map((c) => [
        c.suite,
        c.models.unet,
        c.models.vit,
        c.steps.unet + c.steps.vit,
        c.note ?? hours(estimatedSeconds(c, perStep)),
        missing.has(c.suite) ? `missing (${missing.get(c.suite)!.kept} results kept)` : options.reportOnly === true ? 'complete' : 'measured',
      ]),
    }),
    '',
    `Seconds per step: UNet ${source('unet')}, ViT ${source('vit')}. ` +
      `Estimated training in all: ${hours(totalSeconds(costs, perStep))}; still missing: ${hours(totalSeconds(costs.filter((c) => missing.has(c.suite)), perStep))}.`,
  ];
}

function sizeSummary(size: SizeProfile): string {
  const u = size.unet.model;
  return (
    `size \`${size.name}\`: dataset \`${size.dataset}\`, ${size.steps} steps per configuration${size.vitSteps !== undefined ? ` (ViT ${size.vitSteps})` : ''}, batch ${size.batchSize}, Adam lr ${size.learningRate}, ` +
    `${size.tdcFactor !== undefined ? `TDC γ = ${size.tdcFactor}, ` : ''}` +
    `${size.testImages} held-out images; UNet preset ${size.unet.preset} with ${JSON.stringify(u)}; ` +
    `rd at ${size.rdBits.join(', ')} bits/position on ${size.rdArchs.join(' + ')}; tdc T = ${size.tdcBits}; ` +
    `k-sweep T = ${size.kSweep.target} ± ${size.kSweep.span} (m = 1); m-sweep C = ${size.mSweep.channels}, m ∈ {${size.mSweep.dims.join(', ')}}; TokenBridge B = ${size.tokenBridgeBits}; ` +
    `${size.seeds} seed(s) per quality cell; tdc-speed γ ∈ {${size.tdcSpeed.factors.join(', ')}} at ${size.tdcSpeed.steps.join(', ')} steps`
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

function writeResults(options: BenchOptions, size: SizeProfile, reports: readonly SuiteReport[], incomplete: readonly IncompleteSuite[], wallSeconds: number): void {
  const file = options.resultsFile!;
  const plotsDir = options.plotsDir ?? join(dirname(file), 'docs', 'results');
  mkdirSync(plotsDir, { recursive: true });
  for (const report of reports) {
    for (const plot of report.plots) copyFileSync(join(options.outDir, report.suite, plot.file), join(plotsDir, plot.file));
  }
  const machine = machineInfo(options.backend);
  const claims = [...reports.flatMap((r) => r.claims)].sort((a, b) => a.claim - b.claim);
  const trained = new Map<string, number>();
  for (const report of reports) {
    for (const result of report.results as { training?: { runId: string; trainSeconds: number } }[]) {
      if (result.training !== undefined) trained.set(result.training.runId, result.training.trainSeconds);
    }
  }
  const trainSeconds = [...trained.values()].reduce((a, s) => a + s, 0);
  const measureSeconds = reports.flatMap((r) => r.results as { measureSeconds?: number }[]).reduce((a, r) => a + (r.measureSeconds ?? 0), 0);
  const plotLink = (f: string) => relative(dirname(file), join(plotsDir, f));
  const lines = [
    '# GQ-TS results: the paper\'s claims at small scale',
    '',
    options.reportOnly === true
      ? `Generated by \`gq-bench report\` from the results kept in \`${options.resultsDir ?? options.outDir}\` alone (nothing was trained); do not edit by hand. Regenerate with:`
      : 'Generated by `gq-bench`; do not edit by hand. Regenerate (resumes from the saved results, re-measuring only what is missing) with:',
    '',
    '```',
    options.command,
    '```',
    '',
    `- Commit: ${machine.commit}${machine.dirtyFiles > 0 ? ` with ${machine.dirtyFiles} uncommitted tracked files` : ''}`,
    `- Machine: ${describeMachine(machine)}`,
    `- Wall time: ${measureSeconds.toFixed(0)} s measuring the ${reports.reduce((a, r) => a + r.results.length, 0)} configurations (summed over the invocations that measured them; this invocation: ${wallSeconds.toFixed(0)} s); ` +
      `training time recorded in the checkpoints of the ${trained.size} models: ${trainSeconds.toFixed(0)} s (part of the former when a model was trained while measuring)`,
    `- Configuration: ${sizeSummary(size)}`,
    '- Timings come from a shared machine and are noisy; every ratio is taken between rows measured in the same run.',
    '',
    ...(incomplete.length > 0
      ? [
          '## Missing',
          '',
          `${incomplete.length} suite(s) lack kept results, so their tables and verdicts are absent below: ${incomplete.map((i) => i.suite).join(', ')}.`,
          '',
          ...incomplete.map((i) => `- ${i.firstMissing}`),
          '',
        ]
      : []),
    '## Cost',
    '',
    ...costTable(options, size, incomplete),
    '',
    '## Claims',
    '',
    markdownTable({ title: 'Verdicts', columns: ['claim', 'statement', 'criterion', 'measured', 'verdict'], rows: claims.map((c) => [String(c.claim), c.statement, c.criterion, c.measured, c.verdict]) }),
    '',
    '### Reading',
    '',
    ...reading(claims),
    '',
    ...reports.flatMap((r) => [suiteMarkdown({ ...r, claims: [] }, plotLink, 2), ...(r.suite === 'speed' ? [webgpuDeviceLine] : [])]),
  ];
  writeText(file, `${lines.join('\n').trimEnd()}\n`);
}
