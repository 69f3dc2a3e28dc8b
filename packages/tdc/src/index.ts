export { TdcError } from './errors.js';
export { klBits } from './kl-bits.js';
export type { KlBitsOptions } from './kl-bits.js';
export { createTdc, fromState, nextState, RATE_COLLAPSE_FRACTION, RATE_COLLAPSE_UPDATES } from './controller.js';
export type {
  Tdc,
  TdcOptions,
  TdcState,
  TdcLossResult,
  TdcStatsHandle,
  TdcReduction,
  TdcMode,
  NumberRange,
  FromStateOptions,
} from './controller.js';
export { combineStats, summarizeBits, histogramEdges } from './stats.js';
export type { TdcStats, BitsHistogram } from './stats.js';
export { reparameterize } from './reparameterize.js';
export type { ReparameterizeOptions } from './reparameterize.js';
export { vanillaKl } from './vanilla-kl.js';
export type { VanillaKlOptions } from './vanilla-kl.js';
export { tokenBridgeTdc } from './presets.js';
export type { TokenBridgeTdcOptions } from './presets.js';
