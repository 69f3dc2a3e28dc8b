import type { Tdc, TdcOptions } from './controller.js';
import { createTdc } from './controller.js';
import { TdcError } from './errors.js';

/** Options of `tokenBridgeTdc`: those of `createTdc` without the grouping and target, which TokenBridge fixes. */
export type TokenBridgeTdcOptions = Omit<TdcOptions, 'group' | 'layout' | 'codebookSize' | 'targetBits'> & {
  /** B: bits per channel that TokenBridge will later spend (2^B levels per channel). */
  readonly bitsPerChannel: number;
};

/**
 * TDC for TokenBridge (§4.8): every channel is its own token (m = 1, G = C) and the target is
 * T = B bits, so each channel carries about B bits and 2^B equal-probability levels match it.
 */
export function tokenBridgeTdc(options: TokenBridgeTdcOptions): Tdc {
  const { bitsPerChannel, ...rest } = options ?? ({} as TokenBridgeTdcOptions);
  if (typeof bitsPerChannel !== 'number' || !Number.isInteger(bitsPerChannel) || bitsPerChannel < 1) {
    throw new TdcError('bad-option', `tokenBridgeTdc: bitsPerChannel must be a positive integer, got ${String(bitsPerChannel)}`);
  }
  return createTdc({ ...rest, targetBits: bitsPerChannel, group: 1 });
}
