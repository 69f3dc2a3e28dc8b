import type { FileStore } from '@gq/runtime/files';
import { TrainError } from '../errors.js';
import { joinPath } from '../paths.js';
import type { ImageSet } from './dataset.js';
import { copyAsRgb, decodedCachePath, imageFiles, loadSharp, readCache, writeCache } from './folder.js';

/** Where `scripts/prepare-photos.mjs` puts the photographs, and where `photos` looks by default: `photos` in the cache folder. */
export function defaultPhotosDir(store: FileStore): string {
  return joinPath(store.cacheFolder(), 'photos');
}

/** Options of `loadPhotos`. */
export interface PhotoOptions {
  /**
   * Short sides, in pixels, that each photograph is scaled to (never up) before it is cut into
   * patches: several scales give both texture and scene structure. Default `[128, 256, 512]`.
   */
  readonly scales?: readonly number[];
}

const defaultScales: readonly number[] = [128, 256, 512];

/**
 * Natural photographs cut into `size`×`size` RGB patches: every photograph in `folder` (recursively)
 * is scaled so its short side is each of `scales` in turn, and each scaled copy is tiled into
 * non-overlapping, centred patches. The set's `groups` holds each patch's photograph, so
 * `splitImages` never puts one photograph in both train and test. Patches are cached in
 * `store.cacheFolder()` like `loadImageFolder`'s images.
 */
export async function loadPhotos(store: FileStore, folder: string, size: number, options: PhotoOptions = {}): Promise<ImageSet> {
  const scales = options.scales ?? defaultScales;
  if (scales.length === 0 || scales.some((s) => !Number.isInteger(s) || s < size)) {
    throw new TrainError('bad-dataset', `loadPhotos: every scale must be an integer ≥ the patch size ${size}, got [${scales.join(', ')}]`);
  }
  const files = imageFiles(store, folder);
  const base = await decodedCachePath(store, 'photos', `v1:${size}:${scales.join(',')}`, files);
  const name = `photos:${folder}`;
  const groupsCache = readCache(store, `${base}.groups`);
  if (groupsCache !== undefined && groupsCache.length % 4 === 0) {
    const groups = new Uint32Array(groupsCache.buffer, groupsCache.byteOffset, groupsCache.length / 4).slice();
    const pixels = readCache(store, `${base}.rgb`, groups.length * size * size * 3);
    if (pixels !== undefined) return { name, count: groups.length, height: size, width: size, channels: 3, pixels, groups };
  }

  const sharp = await loadSharp();
  const patchBytes = size * size * 3;
  const chunks: Uint8Array[] = [];
  const groupOf: number[] = [];
  for (let photo = 0; photo < files.length; photo++) {
    const file = files[photo]!;
    try {
      const encoded = store.readFile(file);
      const meta = await sharp(encoded).metadata();
      const shortSide = Math.min(meta.width ?? 0, meta.height ?? 0);
      if (shortSide < size) throw new TrainError('image-unreadable', `the short side is ${shortSide} px, less than one ${size}-px patch`);
      for (const scale of new Set(scales.map((s) => Math.min(s, shortSide)))) {
        const w = Math.round(((meta.width ?? 0) * scale) / shortSide);
        const h = Math.round(((meta.height ?? 0) * scale) / shortSide);
        const { data, info } = await sharp(encoded).resize(w, h, { fit: 'cover', position: 'centre' }).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
        const rgb = new Uint8Array(info.width * info.height * 3);
        copyAsRgb(data, info.channels, info.width * info.height, rgb, 0);
        const across = Math.floor(info.width / size);
        const down = Math.floor(info.height / size);
        const left = Math.floor((info.width - across * size) / 2);
        const top = Math.floor((info.height - down * size) / 2);
        for (let py = 0; py < down; py++) {
          for (let px = 0; px < across; px++) {
            const patch = new Uint8Array(patchBytes);
            for (let y = 0; y < size; y++) {
              const row = ((top + py * size + y) * info.width + left + px * size) * 3;
              patch.set(rgb.subarray(row, row + size * 3), y * size * 3);
            }
            chunks.push(patch);
            groupOf.push(photo);
          }
        }
      }
    } catch (error) {
      throw new TrainError('image-unreadable', `loadPhotos: cannot cut ${file} into ${size}-px patches: ${(error as Error).message}`);
    }
  }
  const pixels = new Uint8Array(chunks.length * patchBytes);
  chunks.forEach((patch, i) => pixels.set(patch, i * patchBytes));
  const groups = Uint32Array.from(groupOf);
  writeCache(store, `${base}.rgb`, pixels);
  writeCache(store, `${base}.groups`, new Uint8Array(groups.buffer));
  return { name, count: groups.length, height: size, width: size, channels: 3, pixels, groups };
}
