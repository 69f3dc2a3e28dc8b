/** Where the CLI writes: streams in production, string buffers in tests. */
export interface Io {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  /** Whether stderr is a terminal (progress redraws one line) or not (a line per 10 %). */
  readonly errIsTty: boolean;
}
