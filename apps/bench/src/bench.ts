import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import type { BackendName } from '@gq/runtime';
import { BenchError } from './errors.js';
import { describeMachine, machineInfo } from './machine.js';
import { markdownTable, suiteMarkdown, suiteNames, writeSuiteReport, writeText, type ClaimCheck, type SuiteName, type SuiteReport } from './report.js';
import type { BenchContext } from './runs.js';
import { sizeProfile, type SizeOverrides, type SizeProfile } from './sizes.js';
import type { Suite } from './suite.js';
import { kSweepSuite } from './suites/k-sweep.js';
import { mSweepSuite } from './suites/m-sweep.js';
import { rdSuite } from './suites/rd.js';
import { speedSuite } from './suites/speed.js';
import { tdcSuite } from './suites/tdc.js';
import { tokenBridgeSuite } from './suites/tokenbridge.js';

export const suites: Readonly<Record<SuiteName, Suite>> = {
  rd: rdSuite,
  tdc: tdcSuite,
  'k-sweep': kSweepSuite,
  'm-sweep': mSweepSuite,
  tokenbridge: tokenBridgeSuite,
  speed: speedSuite,
};

export interface BenchOptions {
  readonly suites: readonly string[];
  readonly size: string;
  readonly overrides?: SizeOverrides;
  readonly outDir: string;
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
    size,
    workers: options.workers,
    backend: options.backend,
    quiet: options.quiet ?? false,
    command: options.command,
    log,
  };
  const started = performance.now();
  const reports: SuiteReport[] = [];
  for (const name of chosen) {
    log(`gq-bench: suite ${name} (${size.name})`);
    const { report, svgs } = await suites[name](ctx);
    writeSuiteReport(join(options.outDir, name), report, svgs);
    reports.push(report);
  }
  if (options.resultsFile !== undefined) {
    writeResults(options, size, reports, (performance.now() - started) / 1000);
  }
  return reports;
}

const unmeasured: readonly ClaimCheck[] = [
  { claim: 7, statement: 'β = 1 vs β = 0 at low rate', criterion: '–', measured: 'not measured by gq-bench (no β sweep suite)', verdict: 'inconclusive' },
  { claim: 8, statement: 'Seed and codebook-method robustness', criterion: '–', measured: 'not measured (one seed per configuration)', verdict: 'inconclusive' },
  { claim: 11, statement: 'Controller stability', criterion: '–', measured: 'see the training logs (runs/*/metrics.jsonl); not summarised here', verdict: 'inconclusive' },
];

function sizeSummary(size: SizeProfile): string {
  const u = size.unet.model;
  return (
    `size \`${size.name}\`: dataset \`${size.dataset}\`, ${size.steps} steps per configuration, batch ${size.batchSize}, Adam lr ${size.learningRate}, ` +
    `${size.testImages} held-out images; UNet preset ${size.unet.preset} with ${JSON.stringify(u)}; ` +
    `rd at ${size.rdBits.join(', ')} bits/position on ${size.rdArchs.join(' + ')}; tdc T = ${size.tdcBits}; ` +
    `k-sweep T = ${size.kSweep.target} ± ${size.kSweep.span} (m = 1); m-sweep C = ${size.mSweep.channels}, m ∈ {${size.mSweep.dims.join(', ')}}; TokenBridge B = ${size.tokenBridgeBits}`
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
      'A claim that fails here may hold with training to convergence, and one that holds here is only weak evidence. Each verdict is a fixed, stated criterion applied to one seed, without error bars.',
  ];
}

function writeResults(options: BenchOptions, size: SizeProfile, reports: readonly SuiteReport[], wallSeconds: number): void {
  const file = options.resultsFile!;
  const plotsDir = options.plotsDir ?? join(dirname(file), 'docs', 'results');
  mkdirSync(plotsDir, { recursive: true });
  for (const report of reports) {
    for (const plot of report.plots) copyFileSync(join(options.outDir, report.suite, plot.file), join(plotsDir, plot.file));
  }
  const machine = machineInfo(options.backend);
  const claims = [...reports.flatMap((r) => r.claims), ...unmeasured].sort((a, b) => a.claim - b.claim);
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
    'Generated by `gq-bench`; do not edit by hand. Regenerate (resumes from the saved results, re-measuring only what is missing) with:',
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
    '## Claims (ALGORITHMS §8)',
    '',
    markdownTable({ title: 'Verdicts', columns: ['claim', 'statement', 'criterion', 'measured', 'verdict'], rows: claims.map((c) => [String(c.claim), c.statement, c.criterion, c.measured, c.verdict]) }),
    '',
    '### Reading',
    '',
    ...reading(claims),
    '',
    ...reports.map((r) => suiteMarkdown({ ...r, claims: [] }, plotLink, 2)),
  ];
  writeText(file, `${lines.join('\n').trimEnd()}\n`);
}
