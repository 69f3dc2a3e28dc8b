/** Error thrown by the gq app (CLI and page), with a stable machine-readable `code`. */
export class InferError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { readonly cause?: unknown }) {
    super(message, options);
    this.name = 'InferError';
    this.code = code;
  }
}

/** One-line description of anything thrown, for messages shown to a person. */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
