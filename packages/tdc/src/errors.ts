import { gqErrorClass, type GqError } from '@gq/core';

/** Error thrown by @gq/tdc, with a stable machine-readable `code`. */
export const TdcError = gqErrorClass('TdcError', '@gq/tdc');
/** An error thrown by @gq/tdc: a `GqError` whose `source` is `'@gq/tdc'`. */
export type TdcError = GqError;
