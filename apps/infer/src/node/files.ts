import { constants } from 'node:fs';
import { open, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { InferError, errorMessage } from '../core/errors.js';

/** Budgets of the command line for untrusted inputs (each has a flag to raise it). */
export interface Limits {
  /** Bytes of any one input file (model, token file, image). Default 2 GiB − 1 (`--max-input-bytes`). */
  readonly inputBytes: number;
  /** Pixels of an image file before it is resized. Default 50 000 000 (`--max-input-pixels`). */
  readonly inputPixels: number;
  /**
   * Pixels of an image the model encodes or decodes. Default: four times the model's own image
   * area, at least 512×512 (`--max-pixels`).
   */
  readonly pixels?: number;
}

export const defaultLimits: Limits = { inputBytes: 2 ** 31 - 1, inputPixels: 50_000_000 };

/** The pixel budget for images the model sees: `limits.pixels`, or four times the model's image area, at least 512². */
export function pixelBudget(limits: Limits, modelPixels: number): number {
  return limits.pixels ?? Math.max(4 * modelPixels, 512 * 512);
}

/** Throw the command line's budget error: names the flag, the limit and the value. */
export function overLimit(flag: string, what: string, value: number, limit: number): never {
  throw new InferError('too-large', `${what} is ${value}, more than the limit of ${limit} (raise it with ${flag})`);
}

/**
 * Read a whole input file, only if it is a regular file (symlinks are followed) within
 * `limits.inputBytes`: a device such as /dev/zero, a FIFO or a folder is refused without reading.
 */
export async function readInputFile(path: string, what: string, limits: Limits): Promise<Uint8Array> {
  let handle;
  try {
    // O_NONBLOCK: opening a FIFO with no writer returns at once instead of waiting for one.
    handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    throw new InferError('unreadable', `${path}: cannot read the file (${what}: ${errorMessage(error)})`, { cause: error });
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) {
      const kind = info.isDirectory() ? 'a folder' : info.isFIFO() ? 'a FIFO' : info.isCharacterDevice() || info.isBlockDevice() ? 'a device' : 'a special file';
      throw new InferError('not-a-file', `${path}: the ${what} must be a regular file, got ${kind}`);
    }
    if (info.size > limits.inputBytes) overLimit('--max-input-bytes', `${path}: the ${what}'s size in bytes`, info.size, limits.inputBytes);
    const bytes = new Uint8Array(info.size);
    let offset = 0;
    while (offset < info.size) {
      const { bytesRead } = await handle.read(bytes, offset, info.size - offset, offset);
      if (bytesRead === 0) break;
      offset += bytesRead;
    }
    if (offset !== info.size) throw new InferError('unreadable', `${path}: the ${what} changed while it was read (${offset} of ${info.size} bytes)`);
    return bytes;
  } finally {
    await handle.close();
  }
}

/**
 * Write `data` to `path` atomically: a temporary file in the same folder, then a rename over
 * `path`, so a crash or a full disk never leaves a truncated output.
 */
export async function writeOutputFile(path: string, data: Uint8Array): Promise<void> {
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
  try {
    const handle = await open(temp, 'wx', 0o644);
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw new InferError('unwritable', `${path}: cannot write the output (${errorMessage(error)})`, { cause: error });
  }
}

async function kindOf(path: string): Promise<'file' | 'folder' | 'other' | null> {
  try {
    const info = await stat(path);
    return info.isDirectory() ? 'folder' : info.isFile() ? 'file' : 'other';
  } catch {
    return null;
  }
}

/**
 * Check every output before any work: names are distinct, each folder exists, and no output
 * exists already unless `force`.
 */
export async function checkOutputs(paths: readonly string[], force: boolean): Promise<void> {
  const seen = new Map<string, string>();
  for (const path of paths) {
    const key = resolve(path);
    const earlier = seen.get(key);
    if (earlier !== undefined) {
      throw new InferError('duplicate-output', `${path}: two outputs would have this name (also ${earlier}); rename the inputs or write to a file per batch`);
    }
    seen.set(key, path);
  }
  for (const path of paths) {
    const folder = dirname(path);
    if ((await kindOf(folder)) !== 'folder') throw new InferError('no-folder', `${path}: the output folder ${folder} must exist, got none`);
    const kind = await kindOf(path);
    if (kind === 'folder' || kind === 'other') throw new InferError('output-exists', `${path}: the output must be a file name, got an existing ${kind === 'folder' ? 'folder' : 'special file'}`);
    if (kind === 'file' && !force) throw new InferError('output-exists', `${path}: the output exists already; pass --force to overwrite it`);
  }
}
