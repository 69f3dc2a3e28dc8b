import { gqErrorClass, type GqError, type GqErrorOptions } from '@gq/core';

/**
 * Why a checkpoint was rejected. Every failure of `readTorchCheckpoint` throws a `CheckpointError`
 * with one of these codes; nothing else is thrown for bad input.
 */
export type CheckpointErrorCode =
  | 'bad-input'
  | 'bad-option'
  | 'unsupported-format'
  | 'bad-zip'
  | 'truncated'
  | 'unsupported-compression'
  | 'bad-crc'
  | 'missing-entry'
  | 'bad-pickle'
  | 'unknown-opcode'
  | 'forbidden-opcode'
  | 'forbidden-global'
  | 'forbidden-call'
  | 'unsupported-dtype'
  | 'missing-storage'
  | 'bad-storage'
  | 'bad-tensor'
  | 'too-large'
  | 'no-state-dict'
  | 'malformed';

/** Error thrown by @gq/checkpoint for malformed, unsupported or unsafe checkpoints and bad options. */
export const CheckpointError = gqErrorClass('CheckpointError', '@gq/checkpoint') as new (
  code: CheckpointErrorCode,
  message: string,
  options?: GqErrorOptions,
) => CheckpointError;
/** An instance of `CheckpointError`; its `code` is always a `CheckpointErrorCode`. */
export type CheckpointError = GqError & { readonly code: CheckpointErrorCode };

/** Throw a `CheckpointError` whose message starts with the public function's name. */
export function fail(code: CheckpointErrorCode, message: string): never {
  throw new CheckpointError(code, `readTorchCheckpoint: ${message}`);
}
