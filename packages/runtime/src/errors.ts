import { gqErrorClass, type GqError } from '@gq/core';

/** Error thrown by @gq/runtime, with a stable machine-readable `code`. */
export const RuntimeError = gqErrorClass('RuntimeError', '@gq/runtime');
/** An error thrown by @gq/runtime: a `GqError` whose `source` is `'@gq/runtime'`. */
export type RuntimeError = GqError;
