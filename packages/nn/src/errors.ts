/** Error thrown by @gq/nn, with a stable machine-readable `code`. */
export class NnError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'NnError';
    this.code = code;
  }
}

/**
 * The error class of a package built on @gq/nn. Helpers that validate on that package's behalf take
 * one, so a caller's users see its own error type and code instead of NnError.
 */
export type ErrorClass = new (code: string, message: string) => Error;
