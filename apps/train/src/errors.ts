/** A user-facing error of gq-train: printed without a stack trace, exit code 2. */
export class TrainError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'TrainError';
    this.code = code;
  }
}
