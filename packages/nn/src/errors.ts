import { gqErrorClass, type GqError } from '@gq/core';

/** Error thrown by @gq/nn, with a stable machine-readable `code`. */
export const NnError = gqErrorClass('NnError', '@gq/nn');
/** An instance of `NnError`. */
export type NnError = GqError;
