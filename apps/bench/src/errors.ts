import { gqErrorClass, type GqError } from '@gq/core';

/** A user-facing error of gq-bench: printed without a stack trace, exit code 2. */
export const BenchError = gqErrorClass('BenchError', 'gq-bench');
export type BenchError = GqError;
