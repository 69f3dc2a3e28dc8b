import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { writeFileAtomic } from '@gq/runtime/files';
import { BenchError } from './errors.js';
import { describeMachine, type MachineInfo } from './machine.js';

export const suiteNames = ['rd', 'tdc', 'k-sweep', 'm-sweep', 'tokenbridge', 'beta', 'seeds', 'controller', 'tdc-speed', 'speed'] as const;
export type SuiteName = (typeof suiteNames)[number];

/** A table cell: numbers are formatted with the column's digits, strings printed as they are. */
export type Cell = number | string;

export interface Table {
  readonly title: string;
  readonly columns: readonly string[];
  readonly rows: readonly (readonly Cell[])[];
  /** Decimal digits per column for numbers (default 3). */
  readonly digits?: readonly number[];
  readonly note?: string;
}

export interface PlotFile {
  /** File name inside the suite folder, e.g. `rd-unet.svg`. */
  readonly file: string;
  readonly title: string;
}

/** One claim of docs/algorithms.md §8 checked against this run's numbers. */
export interface ClaimCheck {
  /** The claim's number in docs/algorithms.md §8. */
  readonly claim: number;
  readonly statement: string;
  readonly criterion: string;
  readonly measured: string;
  readonly verdict: 'reproduces' | 'does not reproduce' | 'inconclusive';
  /** Where the claim does not reproduce or stays open: what its numbers suggest, computed from them. */
  readonly reading?: string;
}

export interface SuiteReport {
  readonly suite: SuiteName;
  readonly size: string;
  readonly command: string;
  readonly machine: MachineInfo;
  /** Wall time of this invocation of the suite (cached configurations are not re-measured). */
  readonly wallSeconds: number;
  /** Configurations measured in this invocation vs read from their result files. */
  readonly measuredNow: number;
  readonly cached: number;
  readonly tables: readonly Table[];
  readonly plots: readonly PlotFile[];
  readonly claims: readonly ClaimCheck[];
  /** Per-configuration results (each with its own machine info and measurement date). */
  readonly results: readonly unknown[];
  readonly notes: readonly string[];
}

/** Throws if any number in `value` (recursively) is NaN or ±∞: JSON would silently turn them into null. */
export function assertFinite(value: unknown, path = '$'): void {
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new BenchError('non-finite', `report: every number must be finite, got ${value} at ${path}`);
  } else if (Array.isArray(value)) {
    value.forEach((v, i) => assertFinite(v, `${path}[${i}]`));
  } else if (ArrayBuffer.isView(value)) {
    Array.from(value as unknown as ArrayLike<number>).forEach((v, i) => assertFinite(v, `${path}[${i}]`));
  } else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) assertFinite(v, `${path}.${k}`);
  }
}

function formatCell(cell: Cell, digits: number): string {
  // A bare '|' (|R̄ − T|, |μσ|) would end the markdown cell.
  if (typeof cell === 'string') return cell.replace(/\|/g, '\\|');
  if (Number.isInteger(cell) && Math.abs(cell) < 1e9) return String(cell);
  return cell.toFixed(digits);
}

export function markdownTable(table: Table): string {
  const header = `| ${table.columns.join(' | ')} |`;
  const rule = `|${table.columns.map(() => '---').join('|')}|`;
  const rows = table.rows.map((row) => `| ${row.map((cell, i) => formatCell(cell, table.digits?.[i] ?? 3)).join(' | ')} |`);
  return [`**${table.title}**`, '', header, rule, ...rows, ...(table.note !== undefined ? ['', table.note] : [])].join('\n');
}

/** The suite's markdown; `plotPath` maps a plot file to the link written (relative to the markdown file). */
export function suiteMarkdown(report: SuiteReport, plotPath: (file: string) => string = (f) => f, level = 2): string {
  const h = '#'.repeat(level);
  const parts = [
    `${h} ${report.suite} (${report.size})`,
    '',
    `Command: \`${report.command}\`  `,
    `Machine: ${describeMachine(report.machine)}  `,
    `Commit: ${report.machine.commit}${report.machine.dirtyFiles > 0 ? ` (+${report.machine.dirtyFiles} uncommitted files)` : ''}, ${report.machine.date}  `,
    `Wall time of this invocation: ${report.wallSeconds.toFixed(1)} s (${report.measuredNow} configurations measured now, ${report.cached} read from earlier results)`,
    '',
  ];
  for (const table of report.tables) parts.push(markdownTable(table), '');
  for (const plot of report.plots) parts.push(`![${plot.title}](${plotPath(plot.file)})`, '');
  if (report.claims.length > 0) {
    parts.push(
      markdownTable({
        title: 'Claims (docs/algorithms.md §8) checked in this suite',
        columns: ['claim', 'statement', 'criterion', 'measured', 'verdict'],
        rows: report.claims.map((c) => [String(c.claim), c.statement, c.criterion, c.measured, c.verdict]),
      }),
      '',
    );
  }
  for (const note of report.notes) parts.push(`- ${note}`);
  return parts.join('\n').trimEnd() + '\n';
}

/** Write report.json, report.md and the plots of one suite into `dir`. */
export function writeSuiteReport(dir: string, report: SuiteReport, svgs: Readonly<Record<string, string>>): void {
  assertFinite(report);
  mkdirSync(dir, { recursive: true });
  for (const [file, svg] of Object.entries(svgs)) writeFileAtomic(join(dir, file), svg);
  writeFileAtomic(join(dir, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
  writeFileAtomic(join(dir, 'report.md'), suiteMarkdown(report));
}

export function readSuiteReport(dir: string): SuiteReport | undefined {
  const path = join(dir, 'report.json');
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as SuiteReport) : undefined;
}

/**
 * Resumability: a configuration's result lives in one JSON file; when it exists it is read back
 * instead of being measured again. Returns the value and whether it was measured now.
 */
export async function cachedResult<T>(path: string, measure: () => Promise<T>): Promise<{ value: T; fresh: boolean }> {
  if (existsSync(path)) return { value: JSON.parse(readFileSync(path, 'utf8')) as T, fresh: false };
  const value = await measure();
  assertFinite(value);
  mkdirSync(dirname(path), { recursive: true });
  writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`);
  return { value, fresh: true };
}

/** Plain write for files that may be replaced freely (not results). */
export function writeText(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
}
