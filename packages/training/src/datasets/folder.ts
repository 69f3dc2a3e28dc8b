import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { extname, join } from 'node:path';
import { TrainError } from '../errors.js';
import { writeFileAtomic } from '../files.js';
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

/** sharp's default export: a file path in, a pipeline out. */
export type SharpLike = (input: string) => SharpPipeline;

/** The cache folder of decoded datasets: `$XDG_CACHE_HOME/gq-ts` or `~/.cache/gq-ts`. */
export function datasetCacheDir(): string {
  return join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'gq-ts');
}

/** Every image file below `folder` (recursively, sorted, hidden entries skipped); throws when there is none. */
export function imageFiles(folder: string): string[] {
  const files: string[] = [];
  const walk = (dir: string): void => {
    let entries: string[];
    try {
      entries = readdirSync(dir).sort();
    } catch (error) {
      throw new TrainError('dataset-missing', `cannot read image folder ${dir}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
    for (const entry of entries) {
      if (entry.startsWith('.')) continue;
      const path = join(dir, entry);
      const stat = statSync(path);
      if (stat.isDirectory()) walk(path);
      else if (imageExtensions.has(extname(entry).toLowerCase())) files.push(path);
    }
  };
  walk(folder);
  if (files.length === 0) throw new TrainError('dataset-missing', `no images (${[...imageExtensions].join(' ')}) in ${folder}`);
  return files;
}

/** A cache file name for decoded `files` under `tag` (the loader and its options): it changes when any file's size or mtime does. */
export function decodedCachePath(prefix: string, tag: string, files: readonly string[]): string {
  const key = createHash('sha256');
  key.update(tag);
  for (const file of files) {
    const stat = statSync(file);
    key.update(`${file}:${stat.size}:${stat.mtimeMs}`);
  }
  return join(datasetCacheDir(), `${prefix}-${key.digest('hex').slice(0, 32)}`);
}

/** The bytes of `path` when it exists and holds exactly `length` bytes (`length` undefined: any). */
export function readCache(path: string, length?: number): Uint8Array | undefined {
  try {
    const bytes = new Uint8Array(readFileSync(path));
    return length === undefined || bytes.length === length ? bytes : undefined;
  } catch {
    return undefined;
  }
}

/** Write a cache file atomically, creating the cache folder. */
export function writeCache(path: string, bytes: Uint8Array): void {
  mkdirSync(datasetCacheDir(), { recursive: true });
  writeFileAtomic(path, bytes);
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
 * `size`×`size` RGB. Decoded pixels are cached under ~/.cache/gq-ts keyed by the file list, sizes,
 * mtimes and `size`, so a second run does not decode again.
 */
export async function loadImageFolder(folder: string, size: number): Promise<ImageSet> {
  const files = imageFiles(folder);
  const cacheFile = `${decodedCachePath('folder', `v1:${size}`, files)}.rgb`;
  const pixelsPerImage = size * size * 3;
  const cached = readCache(cacheFile, files.length * pixelsPerImage);
  if (cached !== undefined) return { name: `folder:${folder}`, count: files.length, height: size, width: size, channels: 3, pixels: cached };

  const sharp = await loadSharp();
  const pixels = new Uint8Array(files.length * pixelsPerImage);
  for (let i = 0; i < files.length; i++) {
    const file = files[i]!;
    try {
      const { data, info } = await sharp(file)
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
  writeCache(cacheFile, pixels);
  return { name: `folder:${folder}`, count: files.length, height: size, width: size, channels: 3, pixels };
}
