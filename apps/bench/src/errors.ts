/** A user-facing error of gq-bench: printed without a stack trace, exit code 2. */
export class BenchError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'BenchError';
    this.code = code;
  }
}
