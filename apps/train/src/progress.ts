/** A one-line progress display on a TTY (rewritten in place), plain lines otherwise. */
export class Progress {
  private readonly start = performance.now();
  private lastPrint = 0;
  private readonly tty: boolean;

  constructor(
    private readonly total: number,
    private readonly firstStep: number,
    private readonly stream: NodeJS.WriteStream = process.stderr,
    private readonly plainEvery = 25,
  ) {
    this.tty = stream.isTTY === true;
  }

  /** Steps per second since this display started. */
  rate(step: number): number {
    const seconds = (performance.now() - this.start) / 1000;
    return seconds > 0 ? (step - this.firstStep) / seconds : 0;
  }

  update(step: number, fields: Record<string, string>): void {
    const now = performance.now();
    const done = step >= this.total;
    if (this.tty ? now - this.lastPrint < 200 && !done : step % this.plainEvery !== 0 && !done) return;
    this.lastPrint = now;
    const rate = this.rate(step);
    const eta = rate > 0 ? (this.total - step) / rate : Number.NaN;
    const width = 20;
    const filled = Math.round((width * step) / Math.max(1, this.total));
    const bar = `${'█'.repeat(filled)}${'░'.repeat(width - filled)}`;
    const text =
      `${bar} ${String(step).padStart(String(this.total).length)}/${this.total} ` +
      `${rate.toFixed(2)} steps/s ETA ${formatSeconds(eta)} ` +
      Object.entries(fields).map(([k, v]) => `${k} ${v}`).join(' ');
    this.stream.write(this.tty ? `\r\x1b[2K${text}` : `${text}\n`);
  }

  /** End the in-place line. */
  finish(): void {
    if (this.tty) this.stream.write('\n');
  }
}

export function formatSeconds(seconds: number): string {
  if (!Number.isFinite(seconds)) return '--:--';
  const s = Math.round(seconds);
  const m = Math.floor(s / 60);
  return m >= 60 ? `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m` : `${m}:${String(s % 60).padStart(2, '0')}`;
}
