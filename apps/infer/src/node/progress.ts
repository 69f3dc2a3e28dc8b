/** Where the CLI writes: streams in production, string buffers in tests. */
export interface Io {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  /** Whether stderr is a terminal (progress redraws one line) or not (a line per 10 %). */
  readonly errIsTty: boolean;
}

/** "encode 12/100 images, 5.1 images/s" on stderr while many images are processed. */
export class Progress {
  readonly #io: Io;
  readonly #label: string;
  readonly #total: number;
  readonly #enabled: boolean;
  readonly #start = performance.now();
  #lastDecile = 0;

  constructor(io: Io, label: string, total: number, enabled: boolean) {
    this.#io = io;
    this.#label = label;
    this.#total = total;
    this.#enabled = enabled && total > 1;
  }

  update(done: number): void {
    if (!this.#enabled) return;
    const seconds = (performance.now() - this.#start) / 1000;
    const rate = seconds > 0 ? done / seconds : 0;
    const line = `${this.#label} ${done}/${this.#total} images, ${rate.toFixed(1)} images/s`;
    if (this.#io.errIsTty) {
      this.#io.err(`\r${line}${done === this.#total ? '\n' : ''}`);
      return;
    }
    const decile = Math.floor((10 * done) / this.#total);
    if (decile > this.#lastDecile || done === this.#total) {
      this.#lastDecile = decile;
      this.#io.err(`${line}\n`);
    }
  }
}
