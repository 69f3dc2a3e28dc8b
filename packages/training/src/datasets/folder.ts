import type { FileStore } from '@gq/runtime/files';
import { TrainError } from '../errors.js';
import { extensionOf, joinPath } from '../paths.js';
import type { ImageSet } from './dataset.js';

const imageExtensions = new Set(['.png', '.jpg', '.jpeg', '.webp', '.gif', '.tif', '.tiff', '.avif']);

/** The part of sharp's chainable pipeline the image loaders use. */
export interface SharpPipeline {
  resize(w: number, h: number, o: { fit: string; position: string }): SharpPipeline;
  removeAlpha(): SharpPipeline;
  toColourspace(space: string): SharpPipeline;
  raw(): SharpPipeline;
  metadata(): Promise<{ width?: number; height?: number; orientation?: number }>;
  toBuffer(o: { resolveWithObject: true }): Promise<{ data: Buffer; info: { width: number; height: number; channels: number } }>;
}

/** sharp's default export: an encoded image's bytes in, a pipeline out. */
export type SharpLike = (input: Uint8Array) => SharpPipeline;

/** Every image file below `folder` (recursively, sorted, hidden entries skipped); throws when there is none. */
export function imageFiles(store: FileStore, folder: string): string[] {
  const files: string[] = [];
  const walk = (dir: string): void => {
    let entries: string[];
    try {
      entries = store.list(dir);
    } catch (error) {
      throw new TrainError('dataset-missing', `cannot read image folder ${dir}: ${(error as Error).message}`);
    }
    for (const entry of entries) {
      if (entry.startsWith('.')) continue;
      const path = joinPath(dir, entry);
      if (store.stat(path)?.directory === true) walk(path);
      else if (imageExtensions.has(extensionOf(entry))) files.push(path);
    }
  };
  walk(folder);
  if (files.length === 0) throw new TrainError('dataset-missing', `no images (${[...imageExtensions].join(' ')}) in ${folder}`);
  return files;
}

/**
 * A cache file name in `store.cacheFolder()` for decoded `files` under `tag` (the loader and its
 * options): a SHA-256 of the tag followed by every file's `path:size:mtime`, so it changes when any does.
 */
export async function decodedCachePath(store: FileStore, prefix: string, tag: string, files: readonly string[]): Promise<string> {
  const key = [tag, ...files.map((file) => {
    const info = store.stat(file);
    return `${file}:${info?.size ?? -1}:${info?.modifiedMs ?? -1}`;
  })].join('');
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(key)));
  const hex = Array.from(digest.subarray(0, 16), (b) => b.toString(16).padStart(2, '0')).join('');
  return joinPath(store.cacheFolder(), `${prefix}-${hex}`);
}

/** The bytes of cache file `path` when it exists and holds exactly `length` bytes (`length` undefined: any). */
export function readCache(store: FileStore, path: string, length?: number): Uint8Array | undefined {
  try {
    const bytes = store.readFile(path);
    return length === undefined || bytes.length === length ? bytes : undefined;
  } catch {
    return undefined;
  }
}

/** Write a cache file atomically, creating the cache folder. */
export function writeCache(store: FileStore, path: string, bytes: Uint8Array): void {
  store.makeFolder(store.cacheFolder());
  store.writeAtomic(path, bytes);
}

/** sharp, loaded on first use (an optional dependency: only image folders need it). */
export async function loadSharp(): Promise<SharpLike> {
  try {
    return ((await import('sharp')) as { default: SharpLike }).default;
  } catch (error) {
    throw new TrainError('sharp-missing', `decoding image folders needs the 'sharp' package: ${(error as Error).message}`);
  }
}

/** Copy decoded pixels with `channels` per pixel into `out` at `offset` as RGB (gray repeated). */
export function copyAsRgb(data: Uint8Array, channels: number, pixelCount: number, out: Uint8Array, offset: number): void {
  if (channels === 3) out.set(data.subarray(0, pixelCount * 3), offset);
  else for (let p = 0; p < pixelCount; p++) out.fill(data[p * channels]!, offset + p * 3, offset + p * 3 + 3);
}

/**
 * Every image in `folder` (recursively), decoded with sharp, centre-cropped and resized to
 * `size`×`size` RGB. Decoded pixels are cached in `store.cacheFolder()` (`~/.cache/gq-ts` with
 * `nodeFiles`) keyed by the file list, sizes, mtimes and `size`, so a second run does not decode again.
 */
export async function loadImageFolder(store: FileStore, folder: string, size: number): Promise<ImageSet> {
  const files = imageFiles(store, folder);
  const cacheFile = `${await decodedCachePath(store, 'folder', `v1:${size}`, files)}.rgb`;
  const pixelsPerImage = size * size * 3;
  const cached = readCache(store, cacheFile, files.length * pixelsPerImage);
  if (cached !== undefined) return { name: `folder:${folder}`, count: files.length, height: size, width: size, channels: 3, pixels: cached };

  const sharp = await loadSharp();
  const pixels = new Uint8Array(files.length * pixelsPerImage);
  for (let i = 0; i < files.length; i++) {
    const file = files[i]!;
    try {
      const { data, info } = await sharp(store.readFile(file))
        .resize(size, size, { fit: 'cover', position: 'centre' })
        .removeAlpha()
        .toColourspace('srgb')
        .raw()
        .toBuffer({ resolveWithObject: true });
      copyAsRgb(data, info.channels, size * size, pixels, i * pixelsPerImage);
    } catch (error) {
      throw new TrainError('image-unreadable', `cannot decode image ${file}: ${(error as Error).message}`);
    }
  }
  writeCache(store, cacheFile, pixels);
  return { name: `folder:${folder}`, count: files.length, height: size, width: size, channels: 3, pixels };
}
