import { gqErrorClass, type GqError } from '@gq/core';

/** Error thrown by @gq/safetensors for malformed files or inputs, with a stable machine-readable `code`. */
export const SafetensorsError = gqErrorClass('SafetensorsError', '@gq/safetensors');
/** An instance of `SafetensorsError`. */
export type SafetensorsError = GqError;
