import { gqErrorClass, type GqError } from '@gq/core';

/** Error thrown by @gq/vae-vit, with a stable machine-readable `code`. */
export const VaeVitError = gqErrorClass('VaeVitError', '@gq/vae-vit');
/** An instance of `VaeVitError`. */
export type VaeVitError = GqError;
