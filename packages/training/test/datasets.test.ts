import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { PNG } from 'pngjs';
import { nodeFiles, type FileStore } from '@gq/runtime/files';
import { loadCifar10, loadDataset, parseIdx, seededPermutation, splitImages, toModelInput, TrainError } from '@gq/training';

function idx(dims: number[], data: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + data.length);
  out.set([0, 0, 8, dims.length]);
  const view = new DataView(out.buffer);
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  out.set(data, 4 + 4 * dims.length);
  return out;
}

describe('datasets', () => {
  it('reads the bundled Fashion-MNIST sample: 6000 28×28 images, labels 0–9, real content', async () => {
    const set = await loadDataset(nodeFiles, 'sample', 32);
    expect([set.count, set.height, set.width, set.channels]).toEqual([6000, 28, 28, 1]);
    expect(Math.max(...set.labels!)).toBe(9);
    const mean = set.pixels.reduce((a, b) => a + b, 0) / set.pixels.length;
    // Fashion-MNIST's training mean intensity is 72.94 (0.2860 of 255); the sample is close to it.
    expect(mean).toBeGreaterThan(65);
    expect(mean).toBeLessThan(80);
  });

  it('parses IDX files it writes itself and rejects corrupt ones', () => {
    const pixels = Uint8Array.from({ length: 2 * 3 * 4 }, (_, i) => i);
    const parsed = parseIdx(idx([2, 3, 4], pixels), 'x');
    expect(parsed.dims).toEqual([2, 3, 4]);
    expect(Array.from(parsed.data)).toEqual(Array.from(pixels));
    expect(() => parseIdx(new Uint8Array([1, 2, 3, 4]), 'bad.idx')).toThrow(/bad\.idx: not an IDX file/);
    expect(() => parseIdx(idx([2, 3, 4], pixels).subarray(0, 20), 'short.idx')).toThrow(/short\.idx: IDX data truncated: header promises 24 bytes, file has 4/);
  });

  it('loads full-format Fashion-MNIST IDX (gzip) from a folder, and says what is missing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gq-idx-'));
    const pixels = Uint8Array.from({ length: 3 * 28 * 28 }, (_, i) => (i * 7) % 256);
    writeFileSync(join(dir, 'train-images-idx3-ubyte.gz'), gzipSync(idx([3, 28, 28], pixels)));
    writeFileSync(join(dir, 'train-labels-idx1-ubyte.gz'), gzipSync(idx([3], new Uint8Array([4, 0, 9]))));
    const set = await loadDataset(nodeFiles, `fashion-mnist:${dir}`, 32);
    expect(set.count).toBe(3);
    expect(Array.from(set.labels!)).toEqual([4, 0, 9]);
    expect(set.pixels[100]).toBe(pixels[100]);
    await expect(loadDataset(nodeFiles, `fashion-mnist:${dir}/nowhere`, 32)).rejects.toThrow(/Fashion-MNIST not found: .*nowhere\/train-images-idx3-ubyte.gz does not exist/);
    writeFileSync(join(dir, 't10k-images-idx3-ubyte.gz'), new Uint8Array([0x1f, 0x8b, 1, 2, 3]));
    await expect(loadDataset(nodeFiles, `fashion-mnist-test:${dir}`, 32)).rejects.toThrow(/is not a valid gzip file/);
    await expect(loadDataset(nodeFiles, 'imagenet', 32)).rejects.toThrow(TrainError);
  });

  it('reads only through the FileStore it is given: an in-memory store serves Fashion-MNIST and CIFAR-10', async () => {
    const memory = new Map<string, Uint8Array>([
      ['/mem/fm/train-images-idx3-ubyte.gz', new Uint8Array(gzipSync(idx([2, 28, 28], new Uint8Array(2 * 28 * 28).fill(200))))],
      ['/mem/fm/train-labels-idx1-ubyte.gz', idx([2], new Uint8Array([3, 1]))],
      ['/mem/cifar/data_batch_1.bin', Uint8Array.from({ length: 3073 }, (_, i) => (i === 0 ? 7 : i % 256))],
    ]);
    const calls: string[] = [];
    const refuse = (name: string) => (): never => {
      throw new Error(`${name} must not be called`);
    };
    const store: FileStore = {
      readFile(path) {
        calls.push(`read ${String(path)}`);
        const bytes = memory.get(String(path));
        if (bytes === undefined) throw new Error('ENOENT');
        return bytes;
      },
      exists: (path) => [...memory.keys()].some((key) => key === String(path) || key.startsWith(`${String(path)}/`)),
      stat: (path) => (memory.has(path) ? { directory: false, size: memory.get(path)!.length, modifiedMs: 0 } : [...memory.keys()].some((key) => key.startsWith(`${path}/`)) ? { directory: true, size: 0, modifiedMs: 0 } : undefined),
      list: (path) => [...memory.keys()].filter((key) => key.startsWith(`${path}/`)).map((key) => key.slice(path.length + 1)).sort(),
      makeFolder: refuse('makeFolder'),
      writeAtomic: refuse('writeAtomic'),
      append: refuse('append'),
      remove: refuse('remove'),
      lock: refuse('lock'),
      removeStaleTemporaries: refuse('removeStaleTemporaries'),
      cacheFolder: () => '/mem/cache',
    };
    const fashion = await loadDataset(store, 'fashion-mnist:/mem/fm', 32);
    expect([fashion.count, fashion.pixels[0], Array.from(fashion.labels!)]).toEqual([2, 200, [3, 1]]);
    const cifar = await loadDataset(store, 'cifar10:/mem/cifar', 32);
    expect([cifar.count, cifar.labels![0], cifar.pixels[0], cifar.pixels[1], cifar.pixels[3]]).toEqual([1, 7, 1, 1025 % 256, 2]);
    expect(calls).toEqual(['read /mem/fm/train-images-idx3-ubyte.gz', 'read /mem/fm/train-labels-idx1-ubyte.gz', 'read /mem/cifar/data_batch_1.bin']);
  });

  it('decodes CIFAR-10 binary records (planar RGB) written in the real format', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gq-cifar-'));
    const record = new Uint8Array(3073);
    record[0] = 7;
    for (let p = 0; p < 1024; p++) {
      record[1 + p] = p % 256; // red plane
      record[1 + 1024 + p] = 10; // green plane
      record[1 + 2048 + p] = 200; // blue plane
    }
    writeFileSync(join(dir, 'data_batch_1.bin'), new Uint8Array([...record, ...record]));
    const set = loadCifar10(nodeFiles, dir, 'train');
    expect([set.count, set.height, set.width, set.channels]).toEqual([2, 32, 32, 3]);
    expect(set.labels![1]).toBe(7);
    const pixel = 33 * 3; // row 1, column 1, interleaved RGB
    expect([set.pixels[pixel], set.pixels[pixel + 1], set.pixels[pixel + 2]]).toEqual([33, 10, 200]);
    writeFileSync(join(dir, 'data_batch_2.bin'), record.subarray(0, 100));
    expect(() => loadCifar10(nodeFiles, dir, 'train')).toThrow(/size 100 is not a multiple of the CIFAR-10 record size 3073/);
  });

  it('decodes an image folder with sharp (resized to the model size) and names an unreadable file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gq-folder-'));
    const png = new PNG({ width: 8, height: 8 });
    for (let i = 0; i < 64; i++) png.data.set([255, 0, 0, 255], i * 4);
    writeFileSync(join(dir, 'red.png'), PNG.sync.write(png));
    process.env.XDG_CACHE_HOME = mkdtempSync(join(tmpdir(), 'gq-cache-'));
    const set = await loadDataset(nodeFiles, `folder:${dir}`, 4);
    expect([set.count, set.height, set.width, set.channels]).toEqual([1, 4, 4, 3]);
    expect(Array.from(set.pixels.subarray(0, 3))).toEqual([255, 0, 0]);
    writeFileSync(join(dir, 'broken.jpg'), new Uint8Array([1, 2, 3]));
    await expect(loadDataset(nodeFiles, `folder:${dir}`, 4)).rejects.toThrow(/cannot decode image .*broken\.jpg/);
  });

  it('splits and shuffles deterministically, and pads gray 28×28 into RGB 32×32 in [-1, 1]', () => {
    const a = seededPermutation(100, 5);
    expect(Array.from(a)).toEqual(Array.from(seededPermutation(100, 5)));
    expect(Array.from(a)).not.toEqual(Array.from(seededPermutation(100, 6)));
    expect([...a].sort((x, y) => x - y)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    const set = { name: 't', count: 2, height: 28, width: 28, channels: 1, pixels: new Uint8Array(2 * 784).fill(255) };
    const { train, test } = splitImages(set, 1, 0);
    expect([train.count, test.count]).toEqual([1, 1]);
    const input = toModelInput(set, [1], 32, 3);
    expect(input.length).toBe(32 * 32 * 3);
    expect(input[0]).toBe(-1); // border padding is black
    expect(input[(2 * 32 + 2) * 3 + 1]).toBe(1); // first image pixel, green channel
  });
});
