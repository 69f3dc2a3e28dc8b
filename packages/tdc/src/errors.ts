/** Error thrown by @gq/tdc, with a stable machine-readable `code`. */
export class TdcError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'TdcError';
    this.code = code;
  }
}
