import { gqErrorClass, type GqError } from '@gq/core';

/** Error thrown by @gq/quantizers, with a stable machine-readable `code`. */
export const QuantizerError = gqErrorClass('QuantizerError', '@gq/quantizers');
/** An error thrown by @gq/quantizers: a `GqError` whose `source` is `'@gq/quantizers'`. */
export type QuantizerError = GqError;
