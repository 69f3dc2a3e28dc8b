export { GqError, isGqError, gqErrorClass, CoreError } from './errors.js';
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
export {
  isLatentLayout,
  tokensPerPosition,
  latentToTokens,
  tokensToLatent,
  latentRowsToTokens,
  tokensToLatentRows,
} from './layout.js';
export type { LatentLayout, TokenGrouping } from './layout.js';
export { constantOf, straightThrough, stopGradient } from './gradient.js';
export { createRng, seededUniform } from './rng.js';
export type { Rng } from './rng.js';
export { TensorStats } from './stats-handle.js';
export type { StatsHandle, TensorStatsValues } from './stats-handle.js';
export type { Quantizer, TrainableQuantizer, QuantizerKind, QuantizeOptions, QuantizeResult } from './quantizer.js';
