import { gqErrorClass, type GqError } from '@gq/core';

/** Error thrown by the gq app (CLI and page), with a stable machine-readable `code`. */
export const InferError = gqErrorClass('InferError', '@gq/infer');
/** An error thrown by the gq app: a `GqError` whose `source` is `'@gq/infer'`. */
export type InferError = GqError;

/** One-line description of anything thrown, for messages shown to a person. */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
