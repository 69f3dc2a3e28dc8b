import type { FileStore } from '@gq/runtime/files';
import { TrainError } from '../errors.js';
import { joinPath } from '../paths.js';
import type { ImageSet } from './dataset.js';

const recordBytes = 1 + 32 * 32 * 3;

/**
 * CIFAR-10 binary batches: records of 1 label byte + 3072 bytes (1024 red, 1024 green, 1024 blue,
 * each row-major 32×32). `path` is one `.bin` file or a folder of them (data_batch_*.bin for
 * train, test_batch.bin for test).
 */
export function loadCifar10(store: FileStore, path: string, split: 'train' | 'test' | 'all' = 'train'): ImageSet {
  let files: string[];
  try {
    const info = store.stat(path);
    if (info === undefined) throw new Error('ENOENT');
    files = info.directory
      ? store
          .list(path)
          .filter((f) => f.endsWith('.bin') && (split === 'all' || (split === 'train' ? f.startsWith('data_batch') : f.startsWith('test_batch'))))
          .map((f) => joinPath(path, f))
      : [path];
  } catch (error) {
    throw new TrainError('dataset-missing', `cannot read CIFAR-10 at ${path}: ${(error as Error).message}`);
  }
  if (files.length === 0) throw new TrainError('dataset-missing', `no CIFAR-10 ${split} batches (*.bin) in ${path}`);
  const chunks = files.map((file) => {
    const bytes = store.readFile(file);
    if (bytes.length === 0 || bytes.length % recordBytes !== 0) {
      throw new TrainError('dataset-corrupt', `${file}: size ${bytes.length} is not a multiple of the CIFAR-10 record size ${recordBytes}`);
    }
    return bytes;
  });
  const count = chunks.reduce((n, c) => n + c.length / recordBytes, 0);
  const pixels = new Uint8Array(count * 3072);
  const labels = new Uint8Array(count);
  let n = 0;
  for (const chunk of chunks) {
    for (let r = 0; r < chunk.length / recordBytes; r++, n++) {
      const base = r * recordBytes;
      const label = chunk[base]!;
      if (label > 9) throw new TrainError('dataset-corrupt', `${files[0]}: record ${r} has label ${label}, CIFAR-10 labels are 0–9`);
      labels[n] = label;
      for (let p = 0; p < 1024; p++) {
        for (let c = 0; c < 3; c++) pixels[n * 3072 + p * 3 + c] = chunk[base + 1 + c * 1024 + p]!;
      }
    }
  }
  return { name: `cifar10:${split}`, count, height: 32, width: 32, channels: 3, pixels, labels };
}
