import * as tf from '@tensorflow/tfjs-core';
import { pixelToUnit, unitToPixels } from '@gq/core';
import { InferError } from './errors.js';

/** 8-bit pixels, row-major [height, width, channels] (channels 1, 3 or 4). */
export interface Pixels {
  readonly data: Uint8Array | Uint8ClampedArray;
  readonly width: number;
  readonly height: number;
  readonly channels: number;
}

/**
 * The luma weights of ITU-R BT.601, the ones every common gray conversion (sharp, PIL's 'L', the
 * canvas-free path here) uses, so a gray tokenizer sees the same values from the CLI and the page.
 */
const luma = [0.299, 0.587, 0.114] as const;

/**
 * Pixels → float32 [H, W, C] values in [−1, 1] by @gq/core's `pixelToUnit`. Alpha is dropped; a gray
 * model (C = 1) gets BT.601 luma (mapped unrounded), a colour model gray images replicated.
 */
export function pixelsToValues(pixels: Pixels, channels: number): Float32Array {
  const { data, width, height, channels: source } = pixels;
  if (![1, 3, 4].includes(source) || data.length !== width * height * source) {
    throw new InferError('bad-pixels', `pixelsToValues: pixels must hold width·height·channels = ${width}·${height}·${source} bytes with 1, 3 or 4 channels, got ${data.length}`);
  }
  if (channels !== 1 && channels !== 3) {
    throw new InferError('bad-model', `pixelsToValues: the model must take 1 or 3 image channels, got ${channels}`);
  }
  const count = width * height;
  const out = new Float32Array(count * channels);
  for (let p = 0; p < count; p++) {
    const base = p * source;
    const r = data[base]!;
    const g = source >= 3 ? data[base + 1]! : r;
    const b = source >= 3 ? data[base + 2]! : r;
    if (channels === 1) {
      out[p] = pixelToUnit(luma[0] * r + luma[1] * g + luma[2] * b);
    } else {
      out[3 * p] = pixelToUnit(r);
      out[3 * p + 1] = pixelToUnit(g);
      out[3 * p + 2] = pixelToUnit(b);
    }
  }
  return out;
}

/** A batch of same-sized pixel images as float32 [B, H, W, C] in [−1, 1]; the caller disposes it. */
export function pixelsToTensor(images: readonly Pixels[], channels: number): tf.Tensor4D {
  if (images.length === 0) throw new InferError('no-images', 'pixelsToTensor: images must hold at least one image, got none');
  const { width, height } = images[0]!;
  const per = width * height * channels;
  const values = new Float32Array(images.length * per);
  images.forEach((image, i) => {
    if (image.width !== width || image.height !== height) {
      throw new InferError('size-mismatch', `pixelsToTensor: every image of a batch must be ${width}×${height}, got ${image.width}×${image.height} at ${i}`);
    }
    values.set(pixelsToValues(image, channels), i * per);
  });
  return tf.tensor4d(values, [images.length, height, width, channels]);
}

/**
 * Split a decoded batch [B, H, W, C] into per-image 8-bit pixels (C channels). Does not dispose
 * `images`; reads with `await data()` so it also works on WebGPU.
 */
export async function tensorToPixels(images: tf.Tensor4D): Promise<Pixels[]> {
  const [batch, height, width, channels] = images.shape;
  // @gq/core's unitToPixels: round((v + 1)·127.5), clamped to [0, 255]; what a PNG of the result holds.
  const bytes = unitToPixels(await images.data());
  const per = height * width * channels;
  return Array.from({ length: batch }, (_, i) => ({ data: bytes.subarray(i * per, (i + 1) * per), width, height, channels }));
}

/** RGBA for a canvas from 1- or 3-channel pixels (alpha 255). */
export function toRgba(pixels: Pixels): Uint8ClampedArray {
  const { data, width, height, channels } = pixels;
  const out = new Uint8ClampedArray(width * height * 4);
  for (let p = 0; p < width * height; p++) {
    const r = data[p * channels]!;
    out[4 * p] = r;
    out[4 * p + 1] = channels >= 3 ? data[p * channels + 1]! : r;
    out[4 * p + 2] = channels >= 3 ? data[p * channels + 2]! : r;
    out[4 * p + 3] = 255;
  }
  return out;
}
