import { gqErrorClass, type GqError } from '@gq/core';

/** Error thrown by @gq/weights when no caller error class is given, with a stable machine-readable `code`. */
export const WeightsError = gqErrorClass('WeightsError', '@gq/weights');
/** An instance of `WeightsError`. */
export type WeightsError = GqError;
