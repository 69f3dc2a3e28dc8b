import { CodebookError } from './errors.js';

/** Validates a generator seed: an integer in [0, 2^32). */
export function checkSeed(fn: string, seed: unknown): asserts seed is number {
  if (typeof seed !== 'number' || !Number.isInteger(seed) || seed < 0 || seed >= 2 ** 32) {
    throw new CodebookError('bad-seed', `${fn}: seed must be an integer in [0, 2^32), got ${String(seed)}`);
  }
}

/** A Float32Array of `length` (K·m) values, or `CodebookError('too-large')` when the engine refuses it. */
export function allocateFloat32(fn: string, length: number): Float32Array {
  try {
    return new Float32Array(length);
  } catch (error) {
    throw new CodebookError(
      'too-large',
      `${fn}: cannot allocate ${length} float32 values (K·m) on this engine: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
}
