import { CodebookError } from './errors.js';

function checkBits(fn: string, bits: number): void {
  if (!Number.isInteger(bits) || bits < 1 || bits > 32) {
    throw new CodebookError('bad-bits', `${fn}: bitsPerIndex must be an integer in [1, 32], got ${bits}`);
  }
}

/** Bytes needed for `count` indices of `bits` bits: ⌈count·bits/8⌉. */
export function packedByteLength(count: number, bitsPerIndex: number): number {
  checkBits('packedByteLength', bitsPerIndex);
  return Math.ceil((count * bitsPerIndex) / 8);
}

/**
 * Fixed-width bit packing: index i occupies stream bits [i·b, (i+1)·b), most significant bit
 * first; bytes fill from their most significant bit; the final byte is zero-padded.
 *
 * @param indices integers in [0, 2^bitsPerIndex)
 * @returns Uint8Array of ⌈N·b/8⌉ bytes
 * @throws CodebookError `bad-bits`, `index-out-of-range`
 */
export function packIndices(indices: ArrayLike<number>, bitsPerIndex: number): Uint8Array {
  const fn = 'packIndices';
  checkBits(fn, bitsPerIndex);
  const limit = 2 ** bitsPerIndex;
  const out = new Uint8Array(Math.ceil((indices.length * bitsPerIndex) / 8));
  // Accumulator of at most 7 + 32 = 39 pending bits, held exactly in a double.
  let acc = 0;
  let pending = 0;
  let byte = 0;
  for (let i = 0; i < indices.length; i++) {
    const value = indices[i]!;
    if (!Number.isInteger(value) || value < 0 || value >= limit) {
      throw new CodebookError(
        'index-out-of-range',
        `${fn}: indices must be integers in [0, 2^${bitsPerIndex}), got ${value} at position ${i}`,
      );
    }
    acc = acc * limit + value;
    pending += bitsPerIndex;
    while (pending >= 8) {
      pending -= 8;
      const scale = 2 ** pending;
      const top = Math.floor(acc / scale);
      out[byte++] = top;
      acc -= top * scale;
    }
  }
  if (pending > 0) out[byte] = acc * 2 ** (8 - pending);
  return out;
}

/**
 * Inverse of `packIndices`.
 *
 * @param bytes at least ⌈count·b/8⌉ bytes
 * @param size optional K: every index must be < K
 * @returns Int32Array [count]
 * @throws CodebookError `bad-bits`, `bad-count`, `truncated`, `index-out-of-range`
 */
export function unpackIndices(bytes: Uint8Array, count: number, bitsPerIndex: number, size?: number): Int32Array {
  const fn = 'unpackIndices';
  checkBits(fn, bitsPerIndex);
  if (!Number.isInteger(count) || count < 0) throw new CodebookError('bad-count', `${fn}: count must be a non-negative integer, got ${count}`);
  const needed = Math.ceil((count * bitsPerIndex) / 8);
  if (bytes.length < needed) {
    throw new CodebookError('truncated', `${fn}: ${count} indices of ${bitsPerIndex} bits need ${needed} bytes, got ${bytes.length}`);
  }
  const bound = Math.min(size ?? 2 ** 31, 2 ** 31);
  const out = new Int32Array(count);
  let acc = 0;
  let available = 0;
  let byte = 0;
  for (let i = 0; i < count; i++) {
    while (available < bitsPerIndex) {
      acc = acc * 256 + bytes[byte++]!;
      available += 8;
    }
    available -= bitsPerIndex;
    const scale = 2 ** available;
    const value = Math.floor(acc / scale);
    acc -= value * scale;
    if (value >= bound) {
      throw new CodebookError(
        'index-out-of-range',
        `${fn}: decoded index ${value} at position ${i} is not below ${size !== undefined ? `K=${size}` : '2^31 (int32)'}`,
      );
    }
    out[i] = value;
  }
  return out;
}
