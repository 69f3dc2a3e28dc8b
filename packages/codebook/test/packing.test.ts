import { describe, expect, it } from 'vitest';
import { seededRandom } from '@gq/test-utils';
import { packIndices, packedByteLength, unpackIndices, usageStats } from '@gq/codebook';

/** Independent bit-string oracle: each index as `bits` binary digits, MSB first, concatenated. */
function packOracle(indices: number[], bits: number): number[] {
  let stream = indices.map((v) => v.toString(2).padStart(bits, '0')).join('');
  stream = stream.padEnd(Math.ceil(stream.length / 8) * 8, '0');
  return Array.from({ length: stream.length / 8 }, (_, i) => parseInt(stream.slice(i * 8, i * 8 + 8), 2));
}

describe('packIndices / unpackIndices', () => {
  it('packs MSB-first exactly (hand example)', () => {
    // 3 bits: 5 = 101, 3 = 011, 7 = 111 → 1010 1111 1000 0000
    expect(Array.from(packIndices([5, 3, 7], 3))).toEqual([0b10101111, 0b10000000]);
    expect(Array.from(packIndices([0xabcd], 16))).toEqual([0xab, 0xcd]);
  });
  it('round-trips and matches the bit-string oracle for every width 1..32', () => {
    const random = seededRandom(8);
    for (let bits = 1; bits <= 32; bits++) {
      const count = 1 + Math.floor(random() * 40);
      const top = bits === 32 ? 2 ** 31 : 2 ** bits;
      const indices = Array.from({ length: count }, (_, i) => (i === 0 ? top - 1 : Math.floor(random() * top)));
      const bytes = packIndices(indices, bits);
      expect(bytes.length).toBe(packedByteLength(count, bits));
      expect(Array.from(bytes)).toEqual(packOracle(indices, bits));
      expect(Array.from(unpackIndices(bytes, count, bits))).toEqual(indices);
    }
  });
  it('packs full 32-bit values', () => {
    expect(Array.from(packIndices([0xffffffff], 32))).toEqual([255, 255, 255, 255]);
  });
  it('rejects bad widths, out-of-range indices and truncated input', () => {
    expect(() => packIndices([1], 0)).toThrow(expect.objectContaining({ code: 'bad-bits' }));
    expect(() => packIndices([1], 33)).toThrow('packIndices: bitsPerIndex must be an integer in [1, 32], got 33');
    expect(() => packIndices([8], 3)).toThrow('packIndices: indices must be integers in [0, 2^3), got 8 at position 0');
    expect(() => packIndices([-1], 3)).toThrow(expect.objectContaining({ code: 'index-out-of-range' }));
    expect(() => unpackIndices(new Uint8Array(1), 3, 3)).toThrow('unpackIndices: 3 indices of 3 bits need 2 bytes, got 1');
    expect(() => unpackIndices(packIndices([9], 4), 1, 4, 8)).toThrow(/decoded index 9 at position 0 is not below K=8/);
    expect(() => unpackIndices(packIndices([0xffffffff], 32), 1, 32)).toThrow(expect.objectContaining({ code: 'index-out-of-range' }));
    expect(() => unpackIndices(new Uint8Array(4), 1, 40)).toThrow(expect.objectContaining({ code: 'bad-bits' }));
  });
});

describe('usageStats', () => {
  it('computes used fraction, entropy in bits and perplexity', () => {
    const stats = usageStats([0, 0, 1, 2], 8);
    // p = (1/2, 1/4, 1/4): H = 1.5 bits, perplexity 2^1.5.
    expect(stats.used).toBe(3);
    expect(stats.usedFraction).toBe(3 / 8);
    expect(stats.entropyBits).toBeCloseTo(1.5, 14);
    expect(stats.perplexity).toBeCloseTo(2 ** 1.5, 13);
    const uniform = usageStats(Int32Array.from({ length: 1024 }, (_, i) => i % 256), 256);
    expect([uniform.used, uniform.usedFraction]).toEqual([256, 1]);
    expect(uniform.entropyBits).toBeCloseTo(8, 12);
    expect(usageStats([5, 5, 5], 2 ** 30)).toMatchObject({ used: 1, entropyBits: 0, perplexity: 1 });
  });
  it('rejects empty input and indices ≥ K', () => {
    expect(() => usageStats([], 8)).toThrow(expect.objectContaining({ code: 'empty' }));
    expect(() => usageStats([8], 8)).toThrow('usageStats: indices must be integers in [0, K=8), got 8 at position 0');
  });
});
