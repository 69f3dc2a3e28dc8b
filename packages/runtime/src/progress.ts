/** Where a `Progress` writes: `process.stderr`, or anything with `write` (and `isTTY` for a terminal). */
export interface ProgressStream {
  write(text: string): unknown;
  /** True for a terminal: one line is rewritten in place; otherwise plain lines are appended. */
  readonly isTTY?: boolean;
}

/** Options of `new Progress(options)`. */
export interface ProgressOptions {
  /** The count at which the work is done (steps, images). */
  readonly total: number;
  /** The count already done when the display starts, e.g. the step a run resumes from (default 0); the rate counts from here. */
  readonly start?: number;
  /** Written before the count, e.g. `'encode'` (default none). */
  readonly label?: string;
  /** What is counted, e.g. `'images'` (default `'steps'`). */
  readonly unit?: string;
  /** Where to write (default `process.stderr`). */
  readonly stream?: ProgressStream;
  /** Not a terminal: write a line each time the count passes a multiple of `every` (default ⌈total/10⌉), and at the end. */
  readonly every?: number;
  /** Terminal: redraw at most once per this many milliseconds (default 200); the last count is always drawn. */
  readonly redrawMs?: number;
  /** Draw a 20-cell bar after the count (default true). */
  readonly bar?: boolean;
  /** False writes nothing (e.g. for `--quiet`); `rate` still works (default true). */
  readonly enabled?: boolean;
  /** Milliseconds clock (default `performance.now`); tests pass a fake one. */
  readonly now?: () => number;
}

const barCells = 20;

/** `m:ss` below an hour, `XhYYm` above, `--:--` for an unknown time (no rate yet). */
export function formatSeconds(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.round(seconds);
  const m = Math.floor(s / 60);
  return m >= 60 ? `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m` : `${m}:${String(s % 60).padStart(2, '0')}`;
}

/**
 * A progress display for long loops (Node): on a terminal one line rewritten in place, otherwise a
 * plain line every `every` counts; each shows the count, a bar, the rate, the ETA and any fields:
 *
 * ```text
 * train 120/2000 steps ██░░░░░░░░░░░░░░░░░░ 2.35 steps/s ETA 13:20 loss 0.0123 bits 4.02
 * ```
 *
 * ```ts
 * const progress = new Progress({ total: steps, label: 'train' });
 * for (let step = 1; step <= steps; step++) progress.update(step, { loss: loss.toFixed(4) });
 * progress.finish();
 * ```
 */
export class Progress {
  readonly #total: number;
  readonly #start: number;
  readonly #label: string;
  readonly #unit: string;
  readonly #stream: ProgressStream | undefined;
  readonly #tty: boolean;
  readonly #every: number;
  readonly #redrawMs: number;
  readonly #bar: boolean;
  readonly #now: () => number;
  readonly #startTime: number;
  #lastDraw = Number.NEGATIVE_INFINITY;
  #lastCount: number;
  /** A terminal line is on screen without its newline. */
  #lineOpen = false;

  constructor(options: ProgressOptions) {
    const { total, start = 0, label = '', unit = 'steps', every, redrawMs = 200, bar = true, enabled = true } = options;
    this.#total = total;
    this.#start = start;
    this.#label = label;
    this.#unit = unit;
    this.#stream = enabled ? (options.stream ?? process.stderr) : undefined;
    this.#tty = this.#stream?.isTTY === true;
    this.#every = Math.max(1, every ?? Math.ceil(total / 10));
    this.#redrawMs = redrawMs;
    this.#bar = bar;
    this.#now = options.now ?? (() => performance.now());
    this.#startTime = this.#now();
    this.#lastCount = start;
  }

  /** Counts per second since the display started (0 before any time has passed). */
  rate(count: number): number {
    const seconds = (this.#now() - this.#startTime) / 1000;
    return seconds > 0 ? (count - this.#start) / seconds : 0;
  }

  /** Report that `count` of `total` are done; `fields` are appended as `name value`. */
  update(count: number, fields: Readonly<Record<string, string | number>> = {}): void {
    const stream = this.#stream;
    if (stream === undefined) return;
    const done = count >= this.#total;
    const previous = this.#lastCount;
    this.#lastCount = count;
    if (this.#tty) {
      const now = this.#now();
      if (!done && now - this.#lastDraw < this.#redrawMs) return;
      this.#lastDraw = now;
      stream.write(`\r\x1b[2K${this.#line(count, fields)}${done ? '\n' : ''}`);
      this.#lineOpen = !done;
      return;
    }
    if (!done && Math.floor(count / this.#every) <= Math.floor(previous / this.#every)) return;
    stream.write(`${this.#line(count, fields)}\n`);
  }

  /** End the terminal line if one is open (call once the loop ends, also when it stops early). */
  finish(): void {
    if (this.#lineOpen) this.#stream?.write('\n');
    this.#lineOpen = false;
  }

  #line(count: number, fields: Readonly<Record<string, string | number>>): string {
    const rate = this.rate(count);
    const eta = rate > 0 ? Math.max(0, this.#total - count) / rate : Number.NaN;
    const parts: string[] = [];
    if (this.#label !== '') parts.push(this.#label);
    parts.push(`${String(count).padStart(String(this.#total).length)}/${this.#total} ${this.#unit}`);
    if (this.#bar) {
      const filled = Math.min(barCells, Math.max(0, Math.round((barCells * count) / Math.max(1, this.#total))));
      parts.push(`${'█'.repeat(filled)}${'░'.repeat(barCells - filled)}`);
    }
    parts.push(`${rate.toFixed(2)} ${this.#unit}/s`, `ETA ${formatSeconds(eta)}`);
    for (const [name, value] of Object.entries(fields)) parts.push(`${name} ${value}`);
    return parts.join(' ');
  }
}
