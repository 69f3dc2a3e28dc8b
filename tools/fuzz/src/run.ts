import { fork, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { formats, type Format } from './formats.js';
import type { WorkerJob, WorkerMessage } from './worker.js';

/** Options of `runFuzz`; every field has a default. */
export interface FuzzOptions {
  /** Cases per format. Default 10 000. */
  readonly cases?: number;
  /** Run seed: the same seed replays the same inputs. Default 1. */
  readonly seed?: number;
  /** Formats to run. Default all five. */
  readonly formats?: readonly Format[];
  /**
   * Wall-clock cap per case, measured in the child; a case over it is a hang. A child that has
   * not answered `timeoutMs` + 5 s after a case started is killed (the grace keeps a busy machine
   * from turning slow message delivery into false hangs). Default 5000 ms.
   */
  readonly timeoutMs?: number;
  /** Peak resident memory cap of a child process; a case that passes it is a memory blow-up. Default 1 GiB. */
  readonly memoryBytes?: number;
  /** Child processes running at once. Default 2. */
  readonly parallel?: number;
  /** Progress lines (default none). */
  readonly log?: (line: string) => void;
}

/** Counts per format, and the cases that failed, for replay. */
export interface FormatSummary {
  readonly format: Format;
  cases: number;
  accepted: number;
  typed: number;
  hangs: number;
  memoryBlowUps: number;
  untyped: number;
  crashes: number;
  readonly failures: string[];
  readonly codes: Record<string, number>;
}

const require = createRequire(import.meta.url);
const workerUrl = new URL('./worker.ts', import.meta.url);

/** Run `[from, to)` of one format in one child after another, restarting after each hang, blow-up or crash. */
async function runRange(format: Format, from: number, to: number, options: Required<Omit<FuzzOptions, 'log' | 'formats' | 'cases' | 'parallel'>>, summary: FormatSummary): Promise<void> {
  let next = from;
  while (next < to) {
    next = await new Promise<number>((settle) => {
      const child: ChildProcess = fork(workerUrl, [], {
        execArgv: ['--conditions=@gq/source', '--import', require.resolve('tsx'), `--max-old-space-size=${Math.ceil(options.memoryBytes / 2 ** 20)}`],
        serialization: 'advanced',
        stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      });
      let current = -1;
      let timer: NodeJS.Timeout | undefined;
      let failure: 'hang' | null = null;
      const arm = (): void => {
        clearTimeout(timer);
        timer = setTimeout(() => {
          failure = 'hang';
          child.kill('SIGKILL');
        }, options.timeoutMs + 5000);
      };
      child.stderr!.resume();
      child.on('message', (message: WorkerMessage) => {
        if (message.type === 'ready') {
          const job: WorkerJob = { format, seed: options.seed, from: next, to, memoryBytes: options.memoryBytes };
          child.send(job);
        } else if (message.type === 'start') {
          current = message.index;
          arm();
        } else {
          clearTimeout(timer);
          summary.cases++;
          if (message.kind === 'ok') summary.accepted++;
          else if (message.kind === 'typed') {
            summary.typed++;
            summary.codes[message.detail] = (summary.codes[message.detail] ?? 0) + 1;
          } else {
            summary.untyped++;
            summary.failures.push(`${format} #${message.index}: untyped ${message.detail}`);
          }
          if (message.ms > options.timeoutMs) {
            summary.hangs++;
            summary.failures.push(`${format} #${message.index}: took ${message.ms.toFixed(0)} ms`);
          }
          if (message.peakBytes > options.memoryBytes) {
            summary.memoryBlowUps++;
            summary.failures.push(`${format} #${message.index}: peak memory ${message.peakBytes} bytes`);
          }
          current = -1;
          next = message.index + 1;
        }
      });
      // 'close' comes after every message of the child has been delivered ('exit' may come before).
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        if (current >= 0) {
          // The case in flight never finished: a hang (killed at the cap) or a crash (out of memory, abort).
          summary.cases++;
          if (failure === 'hang') summary.hangs++;
          else summary.crashes++;
          summary.failures.push(`${format} #${current}: ${failure ?? `crashed (exit ${code ?? signal})`}`);
          settle(current + 1);
        } else if (next < to && code !== 0 && code !== 3) {
          summary.failures.push(`${format}: worker failed before case ${next} (exit ${code ?? signal})`);
          summary.crashes++;
          settle(to);
        } else {
          settle(next);
        }
      });
    });
  }
}

/**
 * Feed seeded mutations of valid .gqt, .gqtok, safetensors, .ckpt and PNG files to their public
 * readers, each case in a child process under a time and memory cap, and count what happened.
 */
export async function runFuzz(options: FuzzOptions = {}): Promise<FormatSummary[]> {
  const cases = options.cases ?? 10_000;
  const parallel = Math.max(1, options.parallel ?? 2);
  const settings = { seed: options.seed ?? 1, timeoutMs: options.timeoutMs ?? 5000, memoryBytes: options.memoryBytes ?? 2 ** 30 };
  const summaries: FormatSummary[] = [];
  for (const format of options.formats ?? formats) {
    const summary: FormatSummary = { format, cases: 0, accepted: 0, typed: 0, hangs: 0, memoryBlowUps: 0, untyped: 0, crashes: 0, failures: [], codes: {} };
    const per = Math.ceil(cases / parallel);
    const started = Date.now();
    await Promise.all(Array.from({ length: parallel }, (_, p) => runRange(format, Math.min(cases, p * per), Math.min(cases, (p + 1) * per), settings, summary)));
    options.log?.(`${format}: ${summary.cases} cases in ${((Date.now() - started) / 1000).toFixed(1)} s — ${summary.accepted} accepted, ${summary.typed} typed errors, ` +
      `${summary.hangs} hangs, ${summary.memoryBlowUps} memory blow-ups, ${summary.untyped} untyped errors, ${summary.crashes} crashes`);
    summaries.push(summary);
  }
  return summaries;
}
