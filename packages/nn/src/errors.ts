/** Error thrown by @gq/nn, with a stable machine-readable `code`. */
export class NnError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'NnError';
    this.code = code;
  }
}
