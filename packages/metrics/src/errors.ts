/**
 * Error thrown by @gq/metrics, with a stable machine-readable `code`:
 * `bad-shape`, `bad-dtype`, `bad-option`, `image-too-small`, `index-out-of-range`,
 * `non-finite`, `empty`, `too-few-samples`, `count-overflow`, `no-convergence`.
 */
export class MetricsError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'MetricsError';
    this.code = code;
  }
}
