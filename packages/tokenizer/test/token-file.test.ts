import { crc32 as crc32Oracle } from 'node:zlib';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seededRandom, setupBackend, tensorGrowth } from '@gq/test-utils';
import {
  TOKEN_FILE_MAGIC,
  Tokenizer,
  TokenizerError,
  readTokenFile,
  toArtifact,
  writeTokenFile,
  type TokenizerManifest,
  type Tokens,
} from '@gq/tokenizer';
import { bitDifferences, expectCode, randomImages, tinyUnet, tinyVit, unetParams, vitParams } from './helpers.js';

let params: Record<string, tf.Tensor>;
let tokenizer: Tokenizer;
let manifest: TokenizerManifest;

beforeAll(async () => {
  await setupBackend('cpu');
  params = unetParams(41);
  tokenizer = Tokenizer.create({ arch: 'unet', config: tinyUnet, params, codebook: { size: 256, dim: 4 } });
  manifest = (await toArtifact(tokenizer)).manifest;
});

afterAll(() => {
  tokenizer.dispose();
  tf.dispose(Object.values(params));
});

/** The same tokenizer description with K = 2^bits and m = 1 (G = 4), all derived fields consistent. */
function manifestWithBits(bits: number): TokenizerManifest {
  const groups = 4;
  return {
    ...manifest,
    codebook: { method: 'normal', size: 2 ** bits, dim: 1, seed: 1, version: 1 },
    tokensPerPosition: groups,
    tokensPerImage: 16 * groups,
    bitsPerToken: bits,
    bitsPerImage: 16 * groups * bits,
    bitsPerPixel: (groups * bits) / 4,
  };
}

/** Independent MSB-first bit writer: index i at stream bits [i·b, (i+1)·b). */
function oraclePack(indices: ArrayLike<number>, bits: number): Uint8Array {
  const out = new Uint8Array(Math.ceil((indices.length * bits) / 8));
  let bit = 0;
  for (let i = 0; i < indices.length; i++) {
    for (let k = bits - 1; k >= 0; k--, bit++) {
      if (Math.floor(indices[i]! / 2 ** k) % 2 === 1) out[bit >> 3]! |= 0x80 >> (bit & 7);
    }
  }
  return out;
}

/** Byte offset of the JSON header: 20 in version 2 files (magic, version, length, header CRC), 16 in version 1. */
const headerStart = 20;

function headerOf(bytes: Uint8Array): { json: Record<string, unknown>; length: number } {
  const length = new DataView(bytes.buffer, bytes.byteOffset).getUint32(12, true);
  return { json: JSON.parse(new TextDecoder().decode(bytes.subarray(headerStart, headerStart + length))) as Record<string, unknown>, length };
}

/** Replace the header by `json` (re-encoding the length field and the header CRC, as a consistent writer would). */
function withHeader(bytes: Uint8Array, json: Record<string, unknown>): Uint8Array {
  const { length } = headerOf(bytes);
  const text = new TextEncoder().encode(JSON.stringify(json));
  const out = new Uint8Array(headerStart + text.length + bytes.length - headerStart - length);
  out.set(bytes.subarray(0, headerStart));
  new DataView(out.buffer).setUint32(12, text.length, true);
  new DataView(out.buffer).setUint32(16, crc32Oracle(text), true);
  out.set(text, headerStart);
  out.set(bytes.subarray(headerStart + length), headerStart + text.length);
  return out;
}

/** The same file in the version 1 layout (no header CRC). */
function asVersion1(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.length - 4);
  out.set(bytes.subarray(0, 16));
  new DataView(out.buffer).setUint32(8, 1, true);
  out.set(bytes.subarray(headerStart), 16);
  return out;
}

describe('token file round trip', () => {
  it('is exact for every index width from 1 to 24 bits, with the payload an independent bit packer produces', () => {
    for (let bits = 1; bits <= 24; bits++) {
      const target = manifestWithBits(bits);
      const next = seededRandom(bits);
      const shape: [number, number, number, number] = [3, 5, 2, 4];
      const count = shape.reduce((a, b) => a * b, 1);
      const indices = Int32Array.from({ length: count }, () => Math.floor(next() * 2 ** bits));
      indices[0] = 0;
      indices[count - 1] = 2 ** bits - 1;
      const tokens: Tokens = { indices, shape, bitsPerToken: bits };
      const bytes = writeTokenFile(tokens, target);
      const { json, length } = headerOf(bytes);
      const payload = bytes.subarray(headerStart + length);
      expect(payload.length).toBe(Math.ceil((count * bits) / 8));
      expect(bitDifferences(payload, oraclePack(indices, bits))).toBe(0);
      expect(json).toMatchObject({ artifactId: manifest.artifactId, imageShape: [3, 10, 4, 3], latentGrid: [5, 2], tokensPerPosition: 4, codebookSize: 2 ** bits, bitsPerToken: bits, count });
      const read = readTokenFile(bytes, { expectArtifactId: manifest.artifactId });
      expect(read.tokens.shape).toEqual(shape);
      expect(read.tokens.bitsPerToken).toBe(bits);
      expect(bitDifferences(read.tokens.indices, indices)).toBe(0);
    }
  });

  it('encode → write → read → decode reproduces the images of the original tokens', async () => {
    const images = randomImages([2, 8, 8, 3], 42);
    const growth = await tensorGrowth(async () => {
      const tokens = await tokenizer.encode(images);
      const bytes = writeTokenFile(tokens, tokenizer);
      expect(Array.from(bytes.subarray(0, 8))).toEqual(TOKEN_FILE_MAGIC);
      expect(bytes.length).toBe(headerStart + headerOf(bytes).length + Math.ceil((2 * 4 * 4 * 1 * 8) / 8));
      const { tokens: read, header } = readTokenFile(bytes.slice().buffer, { expectArtifactId: tokenizer.artifactId! });
      expect(header.imageShape).toEqual([2, 8, 8, 3]);
      const a = await tokenizer.decode(tokens);
      const b = await tokenizer.decode(read);
      expect(bitDifferences(await a.data(), await b.data())).toBe(0);
      tf.dispose([a, b]);
    });
    expect(growth).toBe(0);
    images.dispose();
  });

  it('a ViT tokenizer writes its fixed patch grid and refuses another', async () => {
    const vit = Tokenizer.create({ arch: 'vit', config: tinyVit, params: vitParams(3), codebook: { size: 16, dim: 2 } });
    const artifact = await toArtifact(vit);
    const tokens: Tokens = { indices: new Int32Array(2 * 2 * 2 * 2).fill(15), shape: [2, 2, 2, 2], bitsPerToken: 4 };
    const { header } = readTokenFile(writeTokenFile(tokens, artifact.manifest));
    expect(header.imageShape).toEqual([2, 8, 8, 3]);
    await expectCode(() => writeTokenFile({ ...tokens, shape: [2, 4, 1, 2] }, vit), 'bad-tokens', 'ViT grid 2×2');
    vit.dispose();
  });
});

describe('token file validation', () => {
  const tokens = (): Tokens => ({ indices: Int32Array.from({ length: 2 * 4 * 4 }, (_, i) => (i * 37) % 256), shape: [2, 4, 4, 1], bitsPerToken: 8 });

  it('the writer refuses tokens the tokenizer cannot have produced', async () => {
    const fresh = Tokenizer.create({ arch: 'unet', config: tinyUnet, params, codebook: { size: 256, dim: 4 } });
    await expectCode(() => writeTokenFile(tokens(), fresh), 'no-artifact-id', 'toArtifact');
    fresh.dispose();
    const big = tokens();
    big.indices[3] = 256;
    await expectCode(() => writeTokenFile(big, manifest), 'index-out-of-range', 'got 256 at position 3');
    await expectCode(() => writeTokenFile({ ...tokens(), shape: [1, 4, 4, 2] }, manifest), 'codebook-mismatch', 'G=1');
    await expectCode(() => writeTokenFile({ ...tokens(), bitsPerToken: 7 }, manifest), 'codebook-mismatch', 'must be 8');
    await expectCode(() => writeTokenFile({ ...tokens(), indices: new Int32Array(3) }, manifest), 'bad-tokens', '32 entries');
    await expectCode(() => writeTokenFile(tokens(), { ...manifest, bitsPerToken: 9 }), 'manifest-mismatch');
  });

  it('every corruption of a file is a typed error', async () => {
    const good = writeTokenFile(tokens(), manifest);
    const { json, length } = headerOf(good);
    const magic = good.slice();
    magic[3] = 0x55;
    await expectCode(() => readTokenFile(magic), 'bad-magic', '89 47 51 55');
    const version = good.slice();
    new DataView(version.buffer).setUint32(8, 9, true);
    await expectCode(() => readTokenFile(version), 'bad-version', 'must be 1 or 2, got 9');
    await expectCode(() => readTokenFile(good.subarray(0, 10)), 'truncated', 'at least 16 bytes');
    await expectCode(() => readTokenFile(good.subarray(0, headerStart + length - 1)), 'truncated', 'header declares');
    await expectCode(() => readTokenFile(good.subarray(0, good.length - 1)), 'truncated', 'need 32 bytes, got 31');
    const longer = new Uint8Array(good.length + 1);
    longer.set(good);
    await expectCode(() => readTokenFile(longer), 'length-mismatch', 'exactly 32 bytes');
    const hugeHeader = good.slice();
    new DataView(hugeHeader.buffer).setUint32(12, 0xffffffff, true);
    await expectCode(() => readTokenFile(hugeHeader), 'bad-header', 'header length');
    const brokenJson = asVersion1(good);
    brokenJson[16] = 0x5b;
    await expectCode(() => readTokenFile(brokenJson), 'bad-header', 'must be JSON');
    await expectCode(() => readTokenFile(withHeader(good, { ...json, count: 31 })), 'bad-header', 'count must be B·h·w·G = 32');
    await expectCode(() => readTokenFile(withHeader(good, { ...json, bitsPerToken: 9 })), 'bad-header', 'bitsPerToken must be ⌈log2 K⌉ = 8');
    await expectCode(() => readTokenFile(withHeader(good, { ...json, imageShape: [2, 8, 12, 3] })), 'bad-header', 'one factor');
    await expectCode(() => readTokenFile(withHeader(good, { ...json, extra: true })), 'bad-header', 'unknown extra');
    const { crc32: _crc, ...noCrc } = json;
    await expectCode(() => readTokenFile(withHeader(good, noCrc)), 'bad-header', 'missing crc32');
    // Header says fewer tokens than the data holds.
    await expectCode(() => readTokenFile(withHeader(good, { ...json, imageShape: [1, 8, 8, 3], count: 16, payloadBytes: 16 })), 'length-mismatch', 'exactly 16 bytes');
    const flipped = good.slice();
    flipped[good.length - 5]! ^= 0x10;
    await expectCode(() => readTokenFile(flipped), 'checksum-mismatch');
    await expectCode(() => readTokenFile(good, { expectArtifactId: 'f'.repeat(64) }), 'artifact-mismatch', `got a file written by ${manifest.artifactId}`);
  });

  it('an index ≥ K is rejected when K is not a power of two', async () => {
    // K = 5 is stored in ⌈log2 5⌉ = 3 bits, so the values 5, 6, 7 are representable but invalid.
    const indices = Int32Array.from({ length: 32 }, (_, i) => i % 5);
    indices[17] = 7;
    const good = writeTokenFile({ indices, shape: [2, 4, 4, 1], bitsPerToken: 3 }, { ...manifestWithBits(3), tokensPerPosition: 1, tokensPerImage: 16, bitsPerImage: 48, bitsPerPixel: 0.75, codebook: { method: 'normal', size: 8, dim: 4, seed: 1, version: 1 } });
    const { json } = headerOf(good);
    await expectCode(() => readTokenFile(withHeader(good, { ...json, codebookSize: 5 })), 'index-out-of-range', 'decoded index 7 at position 17 is not below K=5');
  });
});
