/** Error thrown by @gq/quantizers, with a stable machine-readable `code`. */
export class QuantizerError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'QuantizerError';
    this.code = code;
  }
}
