import type { FileStore } from '@gq/runtime/files';
import { TrainError } from '../errors.js';
import type { ImageSet } from './dataset.js';

/** Inflate gzip data with the platform's `DecompressionStream` (Node ≥ 18 and browsers). */
async function gunzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new DecompressionStream('gzip'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

async function readMaybeGzip(files: FileStore, path: string | URL): Promise<Uint8Array> {
  let bytes: Uint8Array;
  try {
    bytes = files.readFile(path);
  } catch (error) {
    throw new TrainError('dataset-missing', `cannot read ${String(path)}: ${(error as Error).message}`);
  }
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      return await gunzip(bytes);
    } catch (error) {
      throw new TrainError('dataset-corrupt', `${path} is not a valid gzip file (${(error as Error).message})`);
    }
  }
  return bytes;
}

/**
 * Parse an IDX file (the MNIST family's format): magic 0x00 0x00 type ndim, big-endian uint32
 * dimensions, then the data. Only unsigned bytes (type 0x08) are accepted.
 */
export function parseIdx(bytes: Uint8Array, path: string): { dims: number[]; data: Uint8Array } {
  if (bytes.length < 4 || bytes[0] !== 0 || bytes[1] !== 0) {
    throw new TrainError('dataset-corrupt', `${path}: not an IDX file (bad magic)`);
  }
  if (bytes[2] !== 0x08) throw new TrainError('dataset-corrupt', `${path}: IDX data type must be 0x08 (ubyte), got 0x${bytes[2]!.toString(16)}`);
  const ndim = bytes[3]!;
  if (bytes.length < 4 + 4 * ndim) throw new TrainError('dataset-corrupt', `${path}: truncated IDX header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims = Array.from({ length: ndim }, (_, i) => view.getUint32(4 + 4 * i, false));
  const size = dims.reduce((a, b) => a * b, 1);
  const start = 4 + 4 * ndim;
  if (bytes.length - start < size) {
    throw new TrainError('dataset-corrupt', `${path}: IDX data truncated: header promises ${size} bytes, file has ${bytes.length - start}`);
  }
  return { dims, data: bytes.subarray(start, start + size) };
}

/** Load IDX images (N×H×W) and optional labels (N), each raw or gzip-compressed, into an ImageSet. */
export async function loadIdxImages(files: FileStore, imagesPath: string | URL, labelsPath: string | URL | undefined, name: string): Promise<ImageSet> {
  const images = parseIdx(await readMaybeGzip(files, imagesPath), String(imagesPath));
  if (images.dims.length !== 3) {
    throw new TrainError('dataset-corrupt', `${imagesPath}: IDX images must have 3 dimensions (N, H, W), got ${images.dims.length}`);
  }
  const [count, height, width] = images.dims as [number, number, number];
  let labels: Uint8Array | undefined;
  if (labelsPath !== undefined) {
    const parsed = parseIdx(await readMaybeGzip(files, labelsPath), String(labelsPath));
    if (parsed.dims.length !== 1 || parsed.dims[0] !== count) {
      throw new TrainError('dataset-corrupt', `${labelsPath}: labels must be [${count}], got [${parsed.dims.join(',')}]`);
    }
    labels = parsed.data.slice();
  }
  return { name, count, height, width, channels: 1, pixels: images.data.slice(), ...(labels !== undefined ? { labels } : {}) };
}
