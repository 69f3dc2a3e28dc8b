import { gqErrorClass, type GqError } from '@gq/core';

/** Error thrown by @gq/training (bad options, datasets, checkpoints), with a stable machine-readable `code`. */
export const TrainError = gqErrorClass('TrainError', '@gq/training');
export type TrainError = GqError;

/** Throw a `TrainError` with code `bad-option`. */
export function badOption(message: string): never {
  throw new TrainError('bad-option', message);
}

/** `value` if it is an integer in [lo, hi]; otherwise a `bad-option` error naming `--name`. */
export function integerOption(name: string, value: number, lo: number, hi: number): number {
  if (!Number.isInteger(value) || value < lo || value > hi) badOption(`--${name} must be an integer in [${lo}, ${hi}], got ${value}`);
  return value;
}
