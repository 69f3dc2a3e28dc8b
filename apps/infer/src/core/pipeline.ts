import * as tf from '@tensorflow/tfjs-core';
import { psnr, ssim, SSIM_WINDOW_SIZE } from '@gq/metrics';
import type { Tokenizer, Tokens } from '@gq/tokenizer';
import { pixelsToTensor, tensorToPixels, type Pixels } from './pixels.js';

/** The image size a tokenizer takes, [height, width, channels]. */
export function modelImageShape(tokenizer: Tokenizer): [number, number, number] {
  return [tokenizer.image.height, tokenizer.image.width, tokenizer.image.channels];
}

/** Tokens of a batch of same-sized images (pixels already at a size the tokenizer accepts). */
export async function encodePixels(tokenizer: Tokenizer, images: readonly Pixels[]): Promise<Tokens> {
  const x = pixelsToTensor(images, tokenizer.image.channels);
  try {
    return await tokenizer.encode(x);
  } finally {
    x.dispose();
  }
}

/** 8-bit images from tokens: decoder output clamped to [−1, 1] and rounded. */
export async function decodePixels(tokenizer: Tokenizer, tokens: Tokens): Promise<Pixels[]> {
  const y = await tokenizer.decode(tokens);
  try {
    return await tensorToPixels(y);
  } finally {
    y.dispose();
  }
}

export interface RoundTrip {
  readonly tokens: Tokens;
  /** Reconstructions, 8-bit. */
  readonly reconstructions: Pixels[];
  /** Per-image PSNR (dB) of the clamped float reconstruction against the input. */
  readonly psnr: Float64Array;
  /** Per-image SSIM, or null when an image is smaller than the 11-px SSIM window. */
  readonly ssim: Float64Array | null;
  /** Wall time of `encode` and of `decode`, ms, for the whole batch (includes reading results back). */
  readonly encodeMs: number;
  readonly decodeMs: number;
}

/**
 * Encode, decode and measure one batch. Metrics compare the float input with the decoder output
 * clamped to [−1, 1], i.e. what a saved reconstruction shows before 8-bit rounding.
 */
export async function roundTrip(tokenizer: Tokenizer, images: readonly Pixels[]): Promise<RoundTrip> {
  const x = pixelsToTensor(images, tokenizer.image.channels);
  let y: tf.Tensor4D | null = null;
  try {
    const t0 = performance.now();
    const tokens = await tokenizer.encode(x);
    const t1 = performance.now();
    const raw = await tokenizer.decode(tokens);
    y = tf.tidy(() => tf.clipByValue(raw, -1, 1));
    raw.dispose();
    // Reading back is part of decoding: on WebGPU the work only finishes when the data is read.
    const reconstructions = await tensorToPixels(y);
    const t2 = performance.now();
    const quality = await psnr(x, y);
    const [, height, width] = x.shape;
    const structure = height >= SSIM_WINDOW_SIZE && width >= SSIM_WINDOW_SIZE ? (await ssim(x, y)).perImage : null;
    return { tokens, reconstructions, psnr: quality.perImage, ssim: structure, encodeMs: t1 - t0, decodeMs: t2 - t1 };
  } finally {
    x.dispose();
    y?.dispose();
  }
}
