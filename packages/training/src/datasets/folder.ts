import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { extname, join } from 'node:path';
import { TrainError } from '../errors.js';
import { writeFileAtomic } from '../files.js';
import type { ImageSet } from './dataset.js';

const imageExtensions = new Set(['.png', '.jpg', '.jpeg', '.webp', '.gif', '.tif', '.tiff', '.avif']);

interface SharpLike {
  (input: string): {
    resize(w: number, h: number, o: { fit: string; position: string }): ReturnType<SharpLike>;
    removeAlpha(): ReturnType<SharpLike>;
    toColourspace(space: string): ReturnType<SharpLike>;
    raw(): ReturnType<SharpLike>;
    toBuffer(o: { resolveWithObject: true }): Promise<{ data: Buffer; info: { width: number; height: number; channels: number } }>;
  };
}

/**
 * Every image in `folder` (recursively), decoded with sharp, centre-cropped and resized to
 * `size`×`size` RGB. Decoded pixels are cached under ~/.cache/gq-ts keyed by the file list, sizes,
 * mtimes and `size`, so a second run does not decode again.
 */
export async function loadImageFolder(folder: string, size: number): Promise<ImageSet> {
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

  const key = createHash('sha256');
  key.update(`v1:${size}`);
  for (const file of files) {
    const stat = statSync(file);
    key.update(`${file}:${stat.size}:${stat.mtimeMs}`);
  }
  const cacheDir = join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'gq-ts');
  const cacheFile = join(cacheDir, `folder-${key.digest('hex').slice(0, 32)}.rgb`);
  const pixelsPerImage = size * size * 3;
  try {
    const cached = new Uint8Array(readFileSync(cacheFile));
    if (cached.length === files.length * pixelsPerImage) {
      return { name: `folder:${folder}`, count: files.length, height: size, width: size, channels: 3, pixels: cached };
    }
  } catch {
    // no cache yet
  }

  let sharp: SharpLike;
  try {
    sharp = ((await import('sharp')) as { default: SharpLike }).default;
  } catch (error) {
    throw new TrainError('sharp-missing', `decoding image folders needs the 'sharp' package: ${(error as Error).message}`);
  }
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
      if (info.channels === 3) pixels.set(data, i * pixelsPerImage);
      else for (let p = 0; p < size * size; p++) pixels.fill(data[p * info.channels]!, i * pixelsPerImage + p * 3, i * pixelsPerImage + p * 3 + 3);
    } catch (error) {
      throw new TrainError('image-unreadable', `cannot decode image ${file}: ${(error as Error).message}`);
    }
  }
  mkdirSync(cacheDir, { recursive: true });
  writeFileAtomic(cacheFile, pixels);
  return { name: `folder:${folder}`, count: files.length, height: size, width: size, channels: 3, pixels };
}
