import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import sharp from 'sharp';
import { readTorchCheckpoint } from '@gq/checkpoint';
import { isGqError } from '@gq/core';
import { parseSafetensors } from '@gq/safetensors';
import { Tokenizer, packArtifact, readTokenFile, toArtifact, writeTokenFile } from '@gq/tokenizer';
import { computeArtifactId } from '@gq/tokenizer/internal';
import { init, type UnetConfig } from '@gq/vae-unet';
import { concat, crc32, mutateBytes, mutateJsonNumbers, type CaseRandom } from './mutate.js';

/** The formats the fuzz suite feeds to their public readers. */
export const formats = ['gqt', 'gqtok', 'safetensors', 'ckpt', 'png'] as const;
export type Format = (typeof formats)[number];

/** Pixels a PNG may declare before it is decoded: the `gq` command line's default. */
const maxInputPixels = 50_000_000;

/** The valid inputs every case mutates, built once per child process. */
interface Seeds {
  readonly tokenizer: Tokenizer;
  readonly gqtok: Uint8Array;
  readonly gqt: Uint8Array;
  readonly safetensors: Uint8Array;
  readonly ckpt: Uint8Array;
  readonly png: Uint8Array;
}

/** f = 2, 8×8 images, C = 4: every UNet block at a size the cpu backend loads in milliseconds. */
const tinyUnet: UnetConfig = { resolution: 8, inChannels: 3, outChannels: 3, ch: 8, chMult: [1, 2], numResBlocks: 1, attnResolutions: [4], zChannels: 4, numGroups: 4 };

/** The torch.save fixture beside the repository (`../shared/fixtures`). */
const checkpointFixture = resolve(dirname(fileURLToPath(import.meta.url)), '../../../../shared/fixtures/vit-tiny/model.ckpt');

export async function makeSeeds(): Promise<Seeds> {
  await tf.setBackend('cpu');
  const params = init(tinyUnet, 11);
  const made = Tokenizer.create({ arch: 'unet', config: tinyUnet, params, codebook: { size: 16, dim: 4 } });
  tf.dispose(Object.values(params));
  const artifact = await toArtifact(made);
  made.dispose();
  const gqtok = packArtifact(artifact);
  const tokenizer = await Tokenizer.load(gqtok);
  const indices = Int32Array.from({ length: 32 }, (_, i) => (i * 7) % 16);
  const gqt = writeTokenFile({ indices, shape: [2, 4, 4, 1], bitsPerToken: 4 }, tokenizer);
  if (!existsSync(checkpointFixture)) throw new Error(`fuzz: the checkpoint fixture ${checkpointFixture} is missing`);
  const pixels = Uint8Array.from({ length: 16 * 16 * 3 }, (_, i) => (i * 37) % 256);
  const png = new Uint8Array(await sharp(Buffer.from(pixels), { raw: { width: 16, height: 16, channels: 3 } }).png().toBuffer());
  return { tokenizer, gqtok, gqt, safetensors: artifact.weights, ckpt: new Uint8Array(readFileSync(checkpointFixture)), png };
}

/** What a case did: accepted the input, refused it with one of our typed errors, or failed otherwise. */
export type Outcome = { readonly kind: 'ok' } | { readonly kind: 'typed'; readonly code: string } | { readonly kind: 'untyped'; readonly message: string };

function resealArtifact(bytes: Uint8Array): Uint8Array {
  if (bytes.length < 32) return bytes;
  const out = bytes.slice();
  new DataView(out.buffer).setUint32(12, crc32(out.subarray(32)), true);
  return out;
}

/** A .gqtok whose manifest JSON had numbers changed, re-sealed with a recomputed artifact id and CRC. */
async function forgedArtifact(seed: Uint8Array, random: CaseRandom): Promise<Uint8Array> {
  const view = new DataView(seed.buffer, seed.byteOffset, seed.byteLength);
  const manifestLength = Number(view.getBigUint64(16, true));
  const weights = seed.subarray(32 + manifestLength);
  const text = mutateJsonNumbers(new TextDecoder().decode(seed.subarray(32, 32 + manifestLength)), random);
  let json = text;
  try {
    const manifest = JSON.parse(text) as Record<string, unknown>;
    manifest.artifactId = await computeArtifactId('fuzz', manifest as never, weights);
    json = JSON.stringify(manifest);
  } catch {
    // Not JSON any more, or not hashable: the reader sees it as it is.
  }
  const body = new TextEncoder().encode(json);
  const head = seed.slice(0, 32);
  new DataView(head.buffer).setBigUint64(16, BigInt(body.length), true);
  return resealArtifact(concat([head, body, weights]));
}

function resealTokenFile(bytes: Uint8Array, random: CaseRandom): Uint8Array {
  if (bytes.length < 20) return bytes;
  const out = bytes.slice();
  const view = new DataView(out.buffer);
  const length = view.getUint32(12, true);
  if (20 + length > out.length) return out;
  if (random.below(2) === 0) {
    // Make the payload CRC in the header agree too, so the index decoder is reached.
    try {
      const header = JSON.parse(new TextDecoder().decode(out.subarray(20, 20 + length))) as Record<string, unknown>;
      header.crc32 = crc32(out.subarray(20 + length));
      const json = new TextEncoder().encode(JSON.stringify(header));
      const rebuilt = concat([out.subarray(0, 20), json, out.subarray(20 + length)]);
      new DataView(rebuilt.buffer).setUint32(12, json.length, true);
      new DataView(rebuilt.buffer).setUint32(16, crc32(json), true);
      return rebuilt;
    } catch {
      // Header not JSON: seal it as it is.
    }
  }
  view.setUint32(16, crc32(out.subarray(20, 20 + length)), true);
  return out;
}

function withJsonHeader(bytes: Uint8Array, lengthAt: number, lengthBytes: 4 | 8, start: number, random: CaseRandom): Uint8Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const length = lengthBytes === 8 ? Number(view.getBigUint64(lengthAt, true)) : view.getUint32(lengthAt, true);
  const text = new TextEncoder().encode(mutateJsonNumbers(new TextDecoder().decode(bytes.subarray(start, start + length)), random));
  const out = concat([bytes.subarray(0, start), text, bytes.subarray(start + length)]);
  const outView = new DataView(out.buffer);
  if (lengthBytes === 8) outView.setBigUint64(lengthAt, BigInt(text.length), true);
  else outView.setUint32(lengthAt, text.length, true);
  return out;
}

/** Decode an image as `gq` does: refuse by the header's pixel count, then decode within sharp's pixel limit. */
async function readImage(bytes: Uint8Array): Promise<void> {
  const { width = 0, height = 0 } = await sharp(bytes).metadata();
  if (width * height > maxInputPixels) throw Object.assign(new Error('too many pixels'), { gq: true });
  await sharp(bytes, { failOn: 'error', limitInputPixels: maxInputPixels }).rotate().resize(8, 8, { fit: 'cover' }).removeAlpha().raw().toBuffer();
}

/** Run one mutated input of `format` through its public reader. */
export async function runCase(format: Format, seeds: Seeds, random: CaseRandom): Promise<Outcome> {
  try {
    switch (format) {
      case 'gqt': {
        const mode = random.below(4);
        let bytes = mode === 0 ? withJsonHeader(seeds.gqt, 12, 4, 20, random) : mutateBytes(seeds.gqt, random);
        if (mode !== 3) bytes = resealTokenFile(bytes, random);
        const file = readTokenFile(bytes, random.below(2) === 0 ? { tokenizer: seeds.tokenizer } : {});
        if (random.below(2) === 0) {
          const images = await seeds.tokenizer.decode(file.tokens);
          images.dispose();
        }
        break;
      }
      case 'gqtok': {
        const mode = random.below(4);
        const bytes = mode === 0 ? await forgedArtifact(seeds.gqtok, random) : mode === 3 ? mutateBytes(seeds.gqtok, random) : resealArtifact(mutateBytes(seeds.gqtok, random));
        (await Tokenizer.load(bytes, { verify: mode !== 2 })).dispose();
        break;
      }
      case 'safetensors': {
        const bytes = random.below(3) === 0 ? withJsonHeader(seeds.safetensors, 0, 8, 8, random) : mutateBytes(seeds.safetensors, random);
        parseSafetensors(bytes);
        break;
      }
      case 'ckpt':
        // CRC checks off half the time, so mutations reach the pickle and the tensor views.
        readTorchCheckpoint(mutateBytes(seeds.ckpt, random), { verifyCrc: random.below(2) === 0 });
        break;
      case 'png':
        try {
          await readImage(mutateBytes(seeds.png, random));
        } catch (error) {
          // `gq` turns every refusal of the image decoder into its typed 'not-an-image' error.
          return { kind: 'typed', code: (error as { gq?: boolean }).gq === true ? 'too-large' : 'not-an-image' };
        }
        break;
    }
    return { kind: 'ok' };
  } catch (error) {
    if (isGqError(error)) return { kind: 'typed', code: error.code };
    return { kind: 'untyped', message: error instanceof Error ? `${error.name}: ${error.message}`.slice(0, 300) : String(error) };
  }
}
