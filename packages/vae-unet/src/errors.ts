import { gqErrorClass, type GqError } from '@gq/core';

/** Error thrown by @gq/vae-unet, with a stable machine-readable `code`. */
export const VaeUnetError = gqErrorClass('VaeUnetError', '@gq/vae-unet');
/** An instance of `VaeUnetError`. */
export type VaeUnetError = GqError;
