import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setupBackend } from '@gq/test-utils';
import { Tokenizer, readTokenFile, toArtifact, writeTokenFile, type TokenizerArtifact, type Tokens } from '@gq/tokenizer';
import { computeArtifactId } from '@gq/tokenizer/internal';
import { expectCode, tinyUnet, tinyVit, unetParams, vitParams } from './helpers.js';

let params: Record<string, tf.Tensor>;
let tokenizer: Tokenizer;
let artifact: TokenizerArtifact;

beforeAll(async () => {
  await setupBackend('cpu');
  params = unetParams(5);
  tokenizer = Tokenizer.create({ arch: 'unet', config: tinyUnet, params, codebook: { size: 16, dim: 4 } });
  artifact = await toArtifact(tokenizer);
});

afterAll(() => {
  tokenizer.dispose();
  tf.dispose(Object.values(params));
});

/** The artifact with manifest fields replaced and the artifact id recomputed, as an attacker would. */
async function forged(changes: Record<string, unknown>): Promise<{ manifest: object; weights: Uint8Array }> {
  const manifest = { ...artifact.manifest, ...changes };
  return { manifest: { ...manifest, artifactId: await computeArtifactId('test', manifest as never, artifact.weights) }, weights: artifact.weights };
}

function tokensOf(h: number, w: number): Tokens {
  return { indices: new Int32Array(h * w), shape: [1, h, w, 1], bitsPerToken: 4 };
}

describe('Tokenizer.load works within budgets on untrusted artifacts', () => {
  it('refuses a codebook of K = 2^30, m = 4 before generating it', async () => {
    // 8×8 images, f = 2: a 4×4 grid of G = 1 tokens of 30 bits.
    const source = await forged({
      codebook: { method: 'normal', size: 2 ** 30, dim: 4, seed: 1, version: 1 },
      tokensPerPosition: 1, tokensPerImage: 16, bitsPerToken: 30, bitsPerImage: 480, bitsPerPixel: 7.5,
    });
    const started = Date.now();
    await expectCode(() => Tokenizer.load(source), 'too-large', 'limits.maxCodebookEntries: the codebook K·m = 1073741824·4 is 4294967296, more than the limit of 16777216');
    expect(Date.now() - started).toBeLessThan(2000);
    const larger = await forged({
      codebook: { method: 'normal', size: 2 ** 31, dim: 4, seed: 1, version: 1 },
      tokensPerPosition: 1, tokensPerImage: 16, bitsPerToken: 31, bitsPerImage: 496, bitsPerPixel: 7.75,
    });
    await expectCode(() => Tokenizer.load(larger), 'too-large', 'maxCodebookEntries');
  });

  it('refuses numResBlocks = 2^31 by a hard config bound, without enumerating layers', async () => {
    const source = await forged({ config: { ...tinyUnet, numResBlocks: 2 ** 31 } });
    const started = Date.now();
    await expectCode(() => Tokenizer.load(source), 'bad-config', 'unet config.numResBlocks must be at most 64, got 2147483648');
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('refuses a declared image of 16384² by the pixel budget, and the budgets can be raised or lowered', async () => {
    const big = await forged({
      image: { height: 16384, width: 16384, channels: 3 }, latent: { height: 8192, width: 8192, channels: 4 },
      tokensPerImage: 8192 * 8192, bitsPerImage: 8192 * 8192 * 4,
    });
    await expectCode(() => Tokenizer.load(big), 'too-large', 'limits.maxImagePixels: the image size 16384×16384 is 268435456, more than the limit of 4194304');
    await expectCode(() => Tokenizer.load({ manifest: artifact.manifest, weights: artifact.weights }, { limits: { maxParameters: 10 } }), 'too-large', 'limits.maxParameters');
    await expectCode(() => Tokenizer.load({ manifest: artifact.manifest, weights: artifact.weights }, { limits: { maxPixels: 1 } as never }), 'bad-options', "no budget 'maxPixels'");
    const loaded = await Tokenizer.load({ manifest: artifact.manifest, weights: artifact.weights }, { limits: { maxCodebookEntries: 64 } });
    expect(loaded.codebook.size).toBe(16);
    loaded.dispose();
  });

  it('types every failure, whatever the source', async () => {
    for (const source of [null, 42, new Uint8Array(3), { manifest: '{', weights: new Uint8Array(0) }, { manifest: artifact.manifest, weights: new Uint8Array(8) }]) {
      await expect(Tokenizer.load(source as never)).rejects.toMatchObject({ name: 'TokenizerError' });
    }
  });
});

describe('token files are checked against the model', () => {
  it('a bit flip in the header is caught by the header checksum', async () => {
    const bytes = writeTokenFile(tokensOf(4, 4), tokenizer);
    const text = new TextDecoder().decode(bytes);
    // "tokensPerPosition":1 → the flip an attacker or a bad disk makes in one digit.
    const at = text.indexOf('"imageShape":[1,8,8,3]') + '"imageShape":[1,8,8,'.length;
    const flipped = bytes.slice();
    flipped[at] = 0x32;
    await expectCode(() => readTokenFile(flipped), 'checksum-mismatch', 'CRC-32 of the header');
  });

  it('still reads version 1 files (no header checksum)', () => {
    const bytes = writeTokenFile(tokensOf(4, 4), tokenizer);
    const v1 = new Uint8Array(bytes.length - 4);
    v1.set(bytes.subarray(0, 16));
    new DataView(v1.buffer).setUint32(8, 1, true);
    v1.set(bytes.subarray(20), 16);
    const file = readTokenFile(v1, { tokenizer });
    expect(file.tokens.shape).toEqual([1, 4, 4, 1]);
    expect(file.header.imageShape).toEqual([1, 8, 8, 3]);
  });

  it('refuses headers whose geometry is not the model’s: wrong factor, channels, G, K, ViT grid', async () => {
    const good = writeTokenFile(tokensOf(4, 4), tokenizer);
    const rewrite = (changes: Record<string, unknown>, base = good): Uint8Array => {
      // A version 1 file carries no header checksum: the model check alone must catch the lie.
      const json = new TextEncoder().encode(JSON.stringify({ ...readTokenFile(base).header, ...changes }));
      const payload = base.subarray(20 + new DataView(base.buffer).getUint32(12, true));
      const out = new Uint8Array(16 + json.length + payload.length);
      out.set(base.subarray(0, 8));
      new DataView(out.buffer).setUint32(8, 1, true);
      new DataView(out.buffer).setUint32(12, json.length, true);
      out.set(json, 16);
      out.set(payload, 16 + json.length);
      return out;
    };
    // A 4×4 grid claimed as a 32×32 image (f = 8, the model's f is 2).
    const wrongFactor = rewrite({ imageShape: [1, 32, 32, 3] });
    expect(readTokenFile(wrongFactor).header.imageShape).toEqual([1, 32, 32, 3]);
    await expectCode(() => readTokenFile(wrongFactor, { tokenizer }), 'geometry-mismatch', 'image height (latent 4 × f=2) must be 8 for this tokenizer, got 32');
    await expectCode(() => readTokenFile(rewrite({ imageShape: [1, 8, 8, 1] }), { tokenizer }), 'geometry-mismatch', 'image channels must be 3');
    await expectCode(() => readTokenFile(rewrite({ tokensPerPosition: 2, count: 32, payloadBytes: 16 }), { tokenizer }), 'geometry-mismatch', 'tokensPerPosition G must be 1');
    await expectCode(() => readTokenFile(rewrite({ codebookSize: 15 }), { tokenizer }), 'geometry-mismatch', 'codebookSize K must be 16');
    const vitParamsTree = vitParams(2);
    const vit = Tokenizer.create({ arch: 'vit', config: tinyVit, params: vitParamsTree, codebook: { size: 16, dim: 4 } });
    await toArtifact(vit);
    const vitFile = writeTokenFile({ indices: new Int32Array(4), shape: [1, 2, 2, 1], bitsPerToken: 4 }, vit);
    expect(readTokenFile(vitFile, { tokenizer: vit }).tokens.shape).toEqual([1, 2, 2, 1]);
    // A 1×1 grid (a 4×4 image) claimed for a ViT whose grid is 2×2: consistent in itself, not with the model.
    const small = rewrite({ imageShape: [1, 4, 4, 3], latentGrid: [1, 1], count: 1, payloadBytes: 1 }, vitFile);
    await expectCode(() => readTokenFile(small, { tokenizer: vit }), 'geometry-mismatch', 'latentGrid (a ViT fixes it) must be 2×2');
    await expectCode(() => readTokenFile(vitFile, { tokenizer }), 'artifact-mismatch');
    vit.dispose();
    tf.dispose(Object.values(vitParamsTree));
  });
});
