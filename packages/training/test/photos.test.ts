import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PNG } from 'pngjs';
import { nodeFiles } from '@gq/runtime/files';
import { loadDataset, loadPhotos, splitImages, type ImageSet } from '@gq/training';

/** Four "photographs", 80×64, each one flat colour: a patch's colour names the photograph it came from. */
const colours: readonly (readonly [number, number, number])[] = [
  [200, 30, 30],
  [30, 200, 30],
  [30, 30, 200],
  [220, 220, 40],
];

function writePhotos(dir: string): void {
  colours.forEach((rgb, i) => {
    const png = new PNG({ width: 80, height: 64 });
    for (let p = 0; p < 80 * 64; p++) png.data.set([...rgb, 255], p * 4);
    writeFileSync(join(dir, `photo-${i}.png`), PNG.sync.write(png));
  });
}

/** The photograph of patch `i`, read from its pixels (not from `groups`). */
function photoOf(set: ImageSet, i: number): number {
  const bytes = set.height * set.width * 3;
  const first = set.pixels.subarray(i * bytes, i * bytes + 3);
  const found = colours.findIndex((c) => c.every((v, k) => Math.abs(v - first[k]!) <= 1));
  // Every pixel of a patch has its photograph's colour (else the patch mixes photographs: -1).
  for (let p = 0; p < bytes; p++) if (Math.abs(set.pixels[i * bytes + p]! - first[p % 3]!) > 1) return -1;
  return found;
}

describe('photos: natural photographs cut into patches, split by photograph', () => {
  const saved = process.env.XDG_CACHE_HOME;
  const dir = mkdtempSync(join(tmpdir(), 'gq-photos-'));
  beforeAll(() => {
    process.env.XDG_CACHE_HOME = mkdtempSync(join(tmpdir(), 'gq-cache-'));
    mkdirSync(join(dir, 'nested'));
    writePhotos(dir);
  });
  afterAll(() => {
    if (saved === undefined) delete process.env.XDG_CACHE_HOME;
    else process.env.XDG_CACHE_HOME = saved;
  });

  it('tiles each scaled copy into whole patches and records each patch\'s photograph', async () => {
    const set = await loadPhotos(nodeFiles, dir, 16, { scales: [32, 64] });
    // Short side 32: 40×32 → 2×2 patches; short side 64: 80×64 → 5×4 patches; 24 per photograph.
    expect([set.count, set.height, set.width, set.channels]).toEqual([4 * 24, 16, 16, 3]);
    for (let i = 0; i < set.count; i++) expect(photoOf(set, i)).toBe(set.groups![i]);
    expect(Array.from(new Set(set.groups))).toEqual([0, 1, 2, 3]);
    // A second load reads the cache and gives the same bytes.
    const again = await loadPhotos(nodeFiles, dir, 16, { scales: [32, 64] });
    expect(Array.from(again.groups!)).toEqual(Array.from(set.groups!));
    expect(again.pixels).toEqual(set.pixels);
    // Scales are never up: every default scale exceeds the 64-px short side, so one copy of 5×4 patches each.
    expect((await loadDataset(nodeFiles, `photos:${dir}`, 16)).count).toBe(4 * 20);
    await expect(loadPhotos(nodeFiles, dir, 16, { scales: [8] })).rejects.toThrow(/loadPhotos: every scale must be an integer ≥ the patch size 16, got \[8\]/);
    await expect(loadDataset(nodeFiles, `photos:${join(dir, 'nowhere')}`, 16)).rejects.toThrow(/photos not found: .*nowhere does not exist \(run node scripts\/prepare-photos\.mjs/);
  });

  it('never puts one photograph in both train and test, for any seed', async () => {
    const set = await loadPhotos(nodeFiles, dir, 16, { scales: [32, 64] });
    for (const seed of [0, 1, 2, 3, 4, 5]) {
      const { train, test } = splitImages(set, 30, seed);
      // 30 test patches need two whole photographs (24 each); the 18 left over of them are dropped.
      expect(test.count).toBe(30);
      expect(train.count).toBe(2 * 24);
      const trainPhotos = new Set<number>(Array.from({ length: train.count }, (_, i) => photoOf(train, i)));
      const testPhotos = new Set<number>(Array.from({ length: test.count }, (_, i) => photoOf(test, i)));
      expect(trainPhotos.size).toBe(2);
      expect(testPhotos.size).toBe(2);
      expect(trainPhotos.has(-1) || testPhotos.has(-1)).toBe(false);
      for (const photo of testPhotos) expect(trainPhotos.has(photo)).toBe(false);
    }
    // Asking for more test patches than all but one photograph hold keeps one photograph for training.
    const { train, test } = splitImages(set, 1000, 0);
    expect([train.count, test.count]).toEqual([24, 72]);
    const single: ImageSet = { ...set, groups: new Uint32Array(set.count) };
    expect(() => splitImages(single, 4, 0)).toThrow(/splitImages: a grouped set needs at least 2 groups .*got 1/);
  });
});
