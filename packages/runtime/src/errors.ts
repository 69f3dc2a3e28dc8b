/** Error thrown by @gq/runtime, with a stable machine-readable `code`. */
export class RuntimeError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'RuntimeError';
    this.code = code;
  }
}
