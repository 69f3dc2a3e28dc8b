import { pixelToUnit } from '@gq/core';
import { TrainError } from '../errors.js';

/** Images held as bytes, NHWC, values 0–255. */
export interface ImageSet {
  readonly name: string;
  readonly count: number;
  readonly height: number;
  readonly width: number;
  readonly channels: number;
  /** count·height·width·channels bytes, NHWC. */
  readonly pixels: Uint8Array;
  /** Optional class labels (not used for training; kept for reports). */
  readonly labels?: Uint8Array;
  /**
   * Optional source of each image (e.g. the photograph a patch was cut from): `splitImages` keeps
   * every group whole, in train or in test, never in both.
   */
  readonly groups?: Uint32Array;
}

/** Deterministic permutation of [0, n) from a seed (Fisher–Yates over a mulberry32 stream). */
export function seededPermutation(n: number, seed: number): Uint32Array {
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    const tmp = order[i]!;
    order[i] = order[j]!;
    order[j] = tmp;
  }
  return order;
}

/**
 * Split a set into train and test parts by a seeded permutation (the last `testCount` go to test).
 * A set with `groups` is split by group: whole groups, in the permuted order from the end, go to
 * test until it holds `testCount` images (a seeded choice of that many among their images; the
 * rest of those groups is left out), and train holds every image of the other groups, at least one.
 */
export function splitImages(set: ImageSet, testCount: number, seed: number): { train: ImageSet; test: ImageSet } {
  const pick = (indices: ArrayLike<number>, suffix: string): ImageSet => {
    const size = set.height * set.width * set.channels;
    const pixels = new Uint8Array(indices.length * size);
    const labels = set.labels !== undefined ? new Uint8Array(indices.length) : undefined;
    const groups = set.groups !== undefined ? new Uint32Array(indices.length) : undefined;
    for (let i = 0; i < indices.length; i++) {
      const source = indices[i]!;
      pixels.set(set.pixels.subarray(source * size, (source + 1) * size), i * size);
      if (labels !== undefined) labels[i] = set.labels![source]!;
      if (groups !== undefined) groups[i] = set.groups![source]!;
    }
    return { ...set, name: `${set.name}:${suffix}`, count: indices.length, pixels, ...(labels !== undefined ? { labels } : {}), ...(groups !== undefined ? { groups } : {}) };
  };
  const testSize = Math.min(Math.max(testCount, 0), set.count - 1);
  if (set.groups === undefined) {
    const order = seededPermutation(set.count, seed);
    return { train: pick(order.subarray(0, set.count - testSize), 'train'), test: pick(order.subarray(set.count - testSize), 'test') };
  }
  const members = new Map<number, number[]>();
  set.groups.forEach((group, i) => {
    const list = members.get(group);
    if (list === undefined) members.set(group, [i]);
    else list.push(i);
  });
  const ids = [...members.keys()].sort((a, b) => a - b);
  if (ids.length < 2) throw new TrainError('bad-dataset', `splitImages: a grouped set needs at least 2 groups to keep train and test apart, got ${ids.length} in ${set.name}`);
  const order = seededPermutation(ids.length, seed);
  const testGroups: number[] = [];
  let available = 0;
  for (let k = ids.length - 1; k >= 1 && available < testSize; k--) {
    const group = ids[order[k]!]!;
    testGroups.push(group);
    available += members.get(group)!.length;
  }
  const candidates = testGroups.flatMap((group) => members.get(group)!);
  const chosen = seededPermutation(candidates.length, seed + 1).subarray(0, Math.min(testSize, candidates.length));
  const test = Array.from(chosen, (j) => candidates[j]!).sort((a, b) => a - b);
  const held = new Set(testGroups);
  const train = ids.filter((group) => !held.has(group)).flatMap((group) => members.get(group)!);
  return { train: pick(train, 'train'), test: pick(test, 'test') };
}

/**
 * Images `indices` of `set` as float32 NHWC in [-1, 1], resized to `size`×`size` by centred zero
 * padding (never scaling: 28×28 Fashion-MNIST becomes 32×32 with a black border) and converted to
 * `channels` (gray → RGB by repetition).
 */
export function toModelInput(
  set: ImageSet,
  indices: ArrayLike<number>,
  size: number,
  channels: number,
): Float32Array {
  const out = new Float32Array(indices.length * size * size * channels).fill(-1);
  const top = Math.floor((size - set.height) / 2);
  const left = Math.floor((size - set.width) / 2);
  const rows = Math.min(size, set.height);
  const cols = Math.min(size, set.width);
  const srcTop = Math.max(0, -top);
  const srcLeft = Math.max(0, -left);
  for (let n = 0; n < indices.length; n++) {
    const image = indices[n]!;
    for (let y = 0; y < rows; y++) {
      for (let x = 0; x < cols; x++) {
        const sy = y + srcTop;
        const sx = x + srcLeft;
        const dy = y + Math.max(0, top);
        const dx = x + Math.max(0, left);
        const src = ((image * set.height + sy) * set.width + sx) * set.channels;
        const dst = ((n * size + dy) * size + dx) * channels;
        for (let c = 0; c < channels; c++) {
          const value = set.pixels[src + (set.channels === 1 ? 0 : Math.min(c, set.channels - 1))]!;
          out[dst + c] = pixelToUnit(value);
        }
      }
    }
  }
  return out;
}
