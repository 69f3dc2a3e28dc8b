import { gqErrorClass, isGqError, type GqError } from '@gq/core';

/** Error thrown by @gq/tokenizer, with a stable machine-readable `code`. */
export const TokenizerError = gqErrorClass('TokenizerError', '@gq/tokenizer');
/** An instance of `TokenizerError`. */
export type TokenizerError = GqError;

/**
 * Re-throw another GQ-TS package's error (any `GqError`: codebook, safetensors, weights, the VAEs…)
 * as a `TokenizerError` with `code`, naming `fn`, keeping the original as `cause`. Anything else
 * (a bug, an engine error) propagates unchanged.
 */
export function rethrow(fn: string, code: string, error: unknown): never {
  if (error instanceof TokenizerError) throw error;
  if (isGqError(error)) throw new TokenizerError(code, `${fn}: ${error.message}`, { cause: error });
  throw error;
}
