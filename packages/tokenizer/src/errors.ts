/** Error thrown by @gq/tokenizer, with a stable machine-readable `code`. */
export class TokenizerError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { readonly cause?: unknown }) {
    super(message, options);
    this.name = 'TokenizerError';
    this.code = code;
  }
}

/** Error classes of sibling packages whose typed errors are re-thrown as `TokenizerError`. */
const foreignErrorNames = new Set(['CodebookError', 'SafetensorsError', 'VaeUnetError', 'VaeVitError', 'NnError']);

/**
 * Re-throw a sibling package's typed error as a `TokenizerError` with `code`, naming `fn`, keeping
 * the original as `cause`. Anything else (a bug, an engine error) propagates unchanged.
 */
export function rethrow(fn: string, code: string, error: unknown): never {
  if (error instanceof TokenizerError) throw error;
  if (error instanceof Error && foreignErrorNames.has(error.name)) {
    throw new TokenizerError(code, `${fn}: ${error.message}`, { cause: error });
  }
  throw error;
}
