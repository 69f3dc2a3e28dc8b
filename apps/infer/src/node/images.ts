import sharp from 'sharp';
import { InferError, errorMessage } from '../core/errors.js';
import type { Pixels } from '../core/pixels.js';
import { defaultLimits, overLimit, readInputFile, writeOutputFile, type Limits } from './files.js';

/**
 * How an image is brought to the model's size: sharp's `cover` (scale and centre-crop, default),
 * `contain` (scale and pad with black), `fill` (stretch), or `none` (keep the image's own size;
 * a UNet takes any multiple of its downsampling factor).
 */
export type Fit = 'cover' | 'contain' | 'fill' | 'none';
export const fits: readonly Fit[] = ['cover', 'contain', 'fill', 'none'];

export interface ReadImageOptions {
  readonly width: number;
  readonly height: number;
  readonly fit: Fit;
  /** Input budgets (file bytes, pixels before resizing). Default `defaultLimits`. */
  readonly limits?: Limits;
}

/** Decode an image file (PNG, JPEG, WebP, GIF, TIFF, AVIF) to 8-bit pixels without alpha. */
export async function readImage(path: string, options: ReadImageOptions): Promise<Pixels> {
  const limits = options.limits ?? defaultLimits;
  const bytes = await readInputFile(path, 'image', limits);
  let declared: number;
  try {
    const { width = 0, height = 0 } = await sharp(bytes).metadata();
    declared = width * height;
  } catch (error) {
    throw new InferError('not-an-image', `${path}: must be a PNG, JPEG, WebP, GIF, TIFF or AVIF image, got a file that cannot be decoded (${errorMessage(error)})`, { cause: error });
  }
  // Checked from the header, before any pixel is decoded.
  if (declared > limits.inputPixels) overLimit('--max-input-pixels', `${path}: the image's pixel count`, declared, limits.inputPixels);
  try {
    // rotate() applies the EXIF orientation, so phone pictures are tokenized upright.
    let image = sharp(bytes, { failOn: 'error', limitInputPixels: Math.max(1, limits.inputPixels) }).rotate();
    if (options.fit !== 'none') {
      image = image.resize(options.width, options.height, { fit: options.fit, kernel: 'lanczos3', background: { r: 0, g: 0, b: 0 } });
    }
    const { data, info } = await image.removeAlpha().raw().toBuffer({ resolveWithObject: true });
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height, channels: info.channels };
  } catch (error) {
    throw new InferError('not-an-image', `${path}: must be a PNG, JPEG, WebP, GIF, TIFF or AVIF image, got a file that cannot be decoded (${errorMessage(error)})`, { cause: error });
  }
}

/** Write 8-bit pixels (1 or 3 channels) as a PNG file, atomically. */
export async function writePng(path: string, pixels: Pixels): Promise<void> {
  const { data, width, height, channels } = pixels;
  const png = await sharp(Buffer.from(data.buffer, data.byteOffset, data.byteLength), { raw: { width, height, channels: channels as 1 | 3 | 4 } })
    .png()
    .toBuffer();
  await writeOutputFile(path, new Uint8Array(png.buffer, png.byteOffset, png.byteLength));
}
