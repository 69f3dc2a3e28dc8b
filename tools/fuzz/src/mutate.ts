import { crc32 as zlibCrc32 } from 'node:zlib';
import { seededUniform } from '@gq/core';

/** Values that sit on the edges where readers go wrong: 0, ±1, powers of two, the 32- and 53-bit ends. */
const interestingNumbers = [0, 1, -1, 2, 3, 7, 8, 255, 256, 4096, 65535, 65536, 2 ** 24, 2 ** 30, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1, 1e300, 0.5, -0.0];

/** A seeded source of integers for one fuzz case. */
export class CaseRandom {
  private readonly next: () => number;
  constructor(seed: number) {
    this.next = seededUniform(seed >>> 0);
  }
  /** An integer in [0, n). */
  below(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.below(items.length)]!;
  }
}

/** The seed of case `index` of a run seeded with `seed` (distinct, reproducible). */
export function caseSeed(seed: number, format: string, index: number): number {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  for (const c of `${format}:${index}`) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193) >>> 0;
  return h;
}

/** One to four byte-level mutations: flips, random bytes, interesting 32-bit integers, cuts, inserts, deletions, duplicated runs. */
export function mutateBytes(input: Uint8Array, random: CaseRandom): Uint8Array {
  let bytes: Uint8Array = input.slice();
  const rounds = 1 + random.below(4);
  for (let round = 0; round < rounds && bytes.length > 0; round++) {
    const at = random.below(bytes.length);
    switch (random.below(7)) {
      case 0:
        bytes[at]! ^= 1 << random.below(8);
        break;
      case 1:
        bytes[at] = random.below(256);
        break;
      case 2: {
        if (at + 4 > bytes.length) break;
        const value = random.pick(interestingNumbers);
        new DataView(bytes.buffer).setUint32(at, Number.isFinite(value) ? Number(BigInt.asUintN(32, BigInt(Math.trunc(value)))) : 0, random.below(2) === 0);
        break;
      }
      case 3:
        bytes = bytes.slice(0, at);
        break;
      case 4: {
        const extra = Uint8Array.from({ length: 1 + random.below(16) }, () => random.below(256));
        bytes = concat([bytes.subarray(0, at), extra, bytes.subarray(at)]);
        break;
      }
      case 5:
        bytes = concat([bytes.subarray(0, at), bytes.subarray(Math.min(bytes.length, at + 1 + random.below(64)))]);
        break;
      default: {
        const length = 1 + random.below(Math.min(256, bytes.length - at));
        bytes = concat([bytes.subarray(0, at + length), bytes.subarray(at, at + length), bytes.subarray(at + length)]);
      }
    }
  }
  return bytes;
}

/** Replace one to three numbers in JSON text by interesting values (keeps the text JSON-shaped). */
export function mutateJsonNumbers(text: string, random: CaseRandom): string {
  const numbers = [...text.matchAll(/-?\d+(\.\d+)?([eE][+-]?\d+)?/g)];
  if (numbers.length === 0) return text;
  let out = text;
  const rounds = 1 + random.below(3);
  for (let round = 0; round < rounds; round++) {
    const found = [...out.matchAll(/-?\d+(\.\d+)?([eE][+-]?\d+)?/g)];
    const match = random.pick(found);
    const value = random.pick(interestingNumbers);
    const replacement = random.below(4) === 0 ? String(Number(match[0]) + random.pick([-1, 1])) : String(value);
    out = out.slice(0, match.index) + replacement + out.slice(match.index! + match[0].length);
  }
  return out;
}

/** The parts joined into one array. */
export function concat(parts: readonly Uint8Array[]): Uint8Array {
  return Buffer.concat(parts);
}

/** CRC-32 (IEEE, zlib's), to re-seal mutated containers so mutations reach the parsers behind the checksums. */
export function crc32(bytes: Uint8Array): number {
  return zlibCrc32(bytes);
}
