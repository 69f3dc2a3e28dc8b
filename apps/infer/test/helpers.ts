import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { Tokenizer, packArtifact, toArtifact } from '@gq/tokenizer';
import { init, type UnetConfig } from '@gq/vae-unet';
import { seededRandom } from '@gq/test-utils';
import type { Io } from '../src/node/io.js';

/** 16×16 RGB, f = 2, C = 4 (8×8 latent): big enough for SSIM's 11-px window, milliseconds on cpu. */
export const tinyConfig: UnetConfig = { resolution: 16, inChannels: 3, outChannels: 3, ch: 8, chMult: [1, 2], numResBlocks: 1, attnResolutions: [8], zChannels: 4, numGroups: 4 };

/** A .gqtok for `config` with weights from `seed` and a generated codebook (K = 256, m = 4 → 2 bpp at f = 2). */
export async function makeArtifact(seed: number, config: UnetConfig = tinyConfig, codebook = { size: 256, dim: 4, seed: 42 }): Promise<Uint8Array> {
  const params = init(config, seed);
  const tokenizer = Tokenizer.create({ arch: 'unet', config, params, codebook });
  for (const p of Object.values(params)) p.dispose();
  try {
    return packArtifact(await toArtifact(tokenizer, { metrics: { note: 'random weights for tests' } }));
  } finally {
    tokenizer.dispose();
  }
}

/** Smooth colour gradients plus seeded noise: structured like a photo, deterministic. RGB bytes. */
export function syntheticPixels(seed: number, width: number, height: number): Uint8Array {
  const next = seededRandom(seed);
  const phase = next() * 6.28;
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = 3 * (y * width + x);
      data[i] = Math.round(127 + 100 * Math.sin(x / 3 + phase) + 20 * (next() - 0.5));
      data[i + 1] = Math.round(127 + 100 * Math.cos(y / 4 - phase) + 20 * (next() - 0.5));
      data[i + 2] = Math.round((255 * (x + y)) / (width + height - 2));
    }
  }
  return data;
}

export async function writePngFile(path: string, data: Uint8Array, width: number, height: number, channels: 1 | 3 = 3): Promise<void> {
  await sharp(Buffer.from(data), { raw: { width, height, channels } }).png().toFile(path);
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `gq-infer-${prefix}-`));
}

export function writeBytes(path: string, bytes: Uint8Array | string): string {
  writeFileSync(path, bytes);
  return path;
}

/** An Io that records what the CLI printed. */
export function captureIo(): Io & { stdout: () => string; stderr: () => string } {
  let out = '';
  let err = '';
  return {
    out: (text) => { out += text; },
    err: (text) => { err += text; },
    errIsTty: false,
    stdout: () => out,
    stderr: () => err,
  };
}
