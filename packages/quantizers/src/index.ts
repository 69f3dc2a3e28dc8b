export { QuantizerError } from './errors.js';
/**
 * The shared quantiser interface, defined once in @gq/core and re-exported here for convenience:
 * `Quantizer` (GQ and every baseline) and `TrainableQuantizer` (the baselines of this package).
 */
export type {
  Quantizer,
  TrainableQuantizer,
  QuantizerKind,
  QuantizeOptions,
  QuantizeResult,
  StatsHandle,
} from '@gq/core';
export { vq } from './vq.js';
export type { Vq, VqOptions, VqStats } from './vq.js';
export { fsq } from './fsq.js';
export type { Fsq, FsqOptions, FsqStats } from './fsq.js';
export { lfq } from './lfq.js';
export type { Lfq, LfqOptions, LfqStats } from './lfq.js';
export { bsq } from './bsq.js';
export type { Bsq, BsqOptions, BsqStats } from './bsq.js';
export { tokenBridge, gaussianBins } from './token-bridge.js';
export type { TokenBridge, TokenBridgeOptions, TokenBridgeStats } from './token-bridge.js';
