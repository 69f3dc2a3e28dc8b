/** Error thrown by @gq/codebook, with a stable machine-readable `code`. */
export class CodebookError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'CodebookError';
    this.code = code;
  }
}
