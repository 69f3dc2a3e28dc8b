import { gqErrorClass, type GqError } from '@gq/core';

/** Error thrown by @gq/codebook, with a stable machine-readable `code`. */
export const CodebookError = gqErrorClass('CodebookError', '@gq/codebook');
/** An error thrown by @gq/codebook: a `GqError` whose `source` is `'@gq/codebook'`. */
export type CodebookError = GqError;
