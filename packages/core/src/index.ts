export { GqError, isGqError, gqErrorClass } from './errors.js';
export type { GqErrorOptions, GqErrorClass } from './errors.js';
export {
  BITS_PER_NAT,
  LOG_VAR_MIN,
  LOG_VAR_MAX,
  LOG_VAR_RANGE,
  BAND_HALF_WIDTH,
  VANILLA_KL_WEIGHT_PER_NAT,
  VANILLA_KL_WEIGHT,
} from './constants.js';
export { pixelToUnit, unitToPixel, pixelsToUnit, unitToPixels } from './pixels.js';
