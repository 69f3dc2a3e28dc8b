import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setupBackend, tensorGrowth } from '@gq/test-utils';
import { createCodebook, codebookFromValues, gqQuantize } from '@gq/codebook';
import { decode as decodeUnet, encode as encodeUnet } from '@gq/vae-unet';
import { decode as decodeVit } from '@gq/vae-vit';
import { Tokenizer, TokenizerError, toArtifact } from '@gq/tokenizer';
import { bitDifferences, channelOf, expectCode, oracleSelect, randomImages, tinyUnet, tinyVit, unetParams, vitParams } from './helpers.js';

let params: Record<string, tf.Tensor>;
let paramsVit: Record<string, tf.Tensor>;

beforeAll(async () => {
  await setupBackend('cpu');
  params = unetParams();
  paramsVit = vitParams();
});

afterAll(() => {
  tf.dispose(Object.values(params));
  tf.dispose(Object.values(paramsVit));
});

describe('Tokenizer.create + encode', () => {
  it('reports the rate of the configuration: G = C/m, log2 K bits, bpp = G·log2 K / f²', () => {
    const tokenizer = Tokenizer.create({ arch: 'unet', config: tinyUnet, params, codebook: { size: 16, dim: 2 } });
    // C = 4, m = 2 → G = 2; K = 16 → 4 bits; f = 2 → bpp = 2·4/4 = 2.
    expect(tokenizer.tokensPerPosition).toBe(2);
    expect(tokenizer.bitsPerToken).toBe(4);
    expect(tokenizer.downsamplingFactor).toBe(2);
    expect(tokenizer.bitsPerPixel).toBe(2);
    expect(tokenizer.latent).toEqual({ height: 4, width: 4, channels: 4 });
    expect(tokenizer.describe().tokensPerImage).toBe(4 * 4 * 2);
    expect(tokenizer.describe().bitsPerImage).toBe(4 * 4 * 2 * 4);
    tokenizer.dispose();
  });

  for (const layout of ['strided', 'contiguous'] as const) {
    it(`UNet tokens equal a float64 GQ oracle and a direct gqQuantize of the VAE's moments (${layout})`, async () => {
      const codebook = createCodebook({ size: 64, dim: 2, seed: 5, method: 'normal' });
      const beta = 0.75;
      const tokenizer = Tokenizer.create({ arch: 'unet', config: tinyUnet, params, codebook, layout, beta });
      const images = randomImages([2, 8, 8, 3], 1);
      const tokens = await tokenizer.encode(images);
      expect(tokens.shape).toEqual([2, 4, 4, 2]);
      expect(tokens.bitsPerToken).toBe(6);

      // Independent path: the VAE package's own encode, then @gq/codebook directly.
      const { mu, logVar } = encodeUnet(tinyUnet, params, images);
      const direct = await gqQuantize(mu, logVar, codebook, { beta, layout });
      expect(Array.from(tokens.indices)).toEqual(Array.from(await direct.indices.data()));

      // Float64 oracle on the same float32 moments; exclude only float64 near-ties.
      const oracle = oracleSelect(await mu.data(), await logVar.data(), 4, codebook, beta, layout);
      let compared = 0;
      for (let i = 0; i < oracle.indices.length; i++) {
        if (oracle.gaps[i]! > 1e-9 * (1 + oracle.scale[i]!)) {
          compared++;
          expect(tokens.indices[i]).toBe(oracle.indices[i]);
        }
      }
      expect(compared).toBeGreaterThan(0.95 * oracle.indices.length);
      // The selection is not degenerate: several codewords are used.
      expect(new Set(tokens.indices).size).toBeGreaterThan(4);
      tf.dispose([images, mu, logVar, direct.indices, direct.zq]);
      tokenizer.dispose();
    });
  }

  it('decode equals the VAE decoder on codewords placed by an independent layout oracle, bit for bit', async () => {
    const codebook = createCodebook({ size: 16, dim: 2, seed: 3 });
    const tokenizer = Tokenizer.create({ arch: 'unet', config: tinyUnet, params, codebook });
    const images = randomImages([1, 8, 8, 3], 2);
    const tokens = await tokenizer.encode(images);
    const [b, h, w, g] = tokens.shape;
    const latent = new Float32Array(b * h * w * 4);
    for (let p = 0; p < b * h * w; p++) {
      for (let t = 0; t < g; t++) {
        const index = tokens.indices[p * g + t]!;
        for (let d = 0; d < 2; d++) latent[p * 4 + channelOf('strided', t, d, g, 2)] = codebook.values[index * 2 + d]!;
      }
    }
    const z = tf.tensor4d(latent, [b, h, w, 4]);
    const expected = decodeUnet(tinyUnet, params, z);
    const decoded = await tokenizer.decode(tokens);
    expect(decoded.shape).toEqual([1, 8, 8, 3]);
    expect(bitDifferences(await decoded.data(), await expected.data())).toBe(0);
    const reconstructed = await tokenizer.reconstruct(images);
    expect(bitDifferences(await reconstructed.data(), await expected.data())).toBe(0);
    tf.dispose([images, z, expected, decoded, reconstructed]);
    tokenizer.dispose();
  });

  it('a fully convolutional UNet tokenizes other sizes that are multiples of f', async () => {
    const tokenizer = Tokenizer.create({ arch: 'unet', config: tinyUnet, params, codebook: { size: 16, dim: 4 } });
    const images = randomImages([1, 12, 6, 3], 3);
    const tokens = await tokenizer.encode(images);
    expect(tokens.shape).toEqual([1, 6, 3, 1]);
    const decoded = await tokenizer.decode(tokens);
    expect(decoded.shape).toEqual([1, 12, 6, 3]);
    tf.dispose([images, decoded]);
    tokenizer.dispose();
  });

  it('ViT tokens form the patch grid [B, h, w, G] and decode through the ViT decoder', async () => {
    const codebook = codebookFromValues(createCodebook({ size: 32, dim: 2, seed: 1, method: 'normal' }).values, 32, 2);
    const tokenizer = Tokenizer.create({ arch: 'vit', config: tinyVit, params: paramsVit, codebook });
    const images = randomImages([3, 8, 8, 3], 4);
    const tokens = await tokenizer.encode(images);
    expect(tokens.shape).toEqual([3, 2, 2, 2]);
    const { mu, logVar } = await tokenizer.encodeMoments(images);
    expect(mu.shape).toEqual([3, 4, 4]);
    const oracle = oracleSelect(await mu.data(), await logVar.data(), 4, codebook, 1, 'strided');
    for (let i = 0; i < oracle.indices.length; i++) {
      if (oracle.gaps[i]! > 1e-9 * (1 + oracle.scale[i]!)) expect(tokens.indices[i]).toBe(oracle.indices[i]);
    }
    const latent = new Float32Array(3 * 4 * 4);
    for (let p = 0; p < 12; p++) {
      for (let t = 0; t < 2; t++) {
        for (let d = 0; d < 2; d++) latent[p * 4 + channelOf('strided', t, d, 2, 2)] = codebook.values[tokens.indices[p * 2 + t]! * 2 + d]!;
      }
    }
    const z = tf.tensor3d(latent, [3, 4, 4]);
    const expected = decodeVit(tinyVit, paramsVit, z);
    const decoded = await tokenizer.decode(tokens);
    expect(bitDifferences(await decoded.data(), await expected.data())).toBe(0);
    const viaLatent = tokenizer.decodeLatent(z);
    expect(bitDifferences(await viaLatent.data(), await expected.data())).toBe(0);
    tf.dispose([images, mu, logVar, z, expected, decoded, viaLatent]);
    tokenizer.dispose();
  });

  it('keeps its own references: the caller may dispose its params, and dispose() leaves the caller\'s alive', async () => {
    const mine = unetParams(11);
    const tokenizer = Tokenizer.create({ arch: 'unet', config: tinyUnet, params: mine, codebook: { size: 16, dim: 4 } });
    const images = randomImages([1, 8, 8, 3], 5);
    const before = await tokenizer.encode(images);
    tf.dispose(Object.values(mine));
    const after = await tokenizer.encode(images);
    expect(Array.from(after.indices)).toEqual(Array.from(before.indices));
    tokenizer.dispose();
    expect(tokenizer.disposed).toBe(true);
    await expectCode(() => tokenizer.encode(images), 'disposed');
    const second = Tokenizer.create({ arch: 'unet', config: tinyUnet, params, codebook: { size: 16, dim: 4 } });
    second.dispose();
    expect(params['encoder.conv_in.weight']!.isDisposed).toBe(false);
    images.dispose();
  });
});

describe('validation', () => {
  it('rejects bad create options with typed errors', async () => {
    const base = { arch: 'unet' as const, config: tinyUnet, params, codebook: { size: 16, dim: 2 } };
    await expectCode(() => Tokenizer.create({ ...base, arch: 'cnn' as 'unet' }), 'bad-arch', "arch must be 'unet' or 'vit'");
    await expectCode(() => Tokenizer.create({ ...base, config: { ...tinyUnet, dropout: 0 } as typeof tinyUnet }), 'bad-config', 'unknown dropout');
    await expectCode(() => Tokenizer.create({ ...base, config: { ...tinyUnet, ch: 6 } }), 'bad-config', 'numGroups');
    await expectCode(() => Tokenizer.create({ ...base, codebook: { size: 16, dim: 3 } }), 'codebook-mismatch', 'm=3 must divide the latent channels C=4');
    await expectCode(() => Tokenizer.create({ ...base, codebook: { size: 12, dim: 2 } }), 'bad-codebook', 'power of two');
    await expectCode(() => Tokenizer.create({ ...base, beta: Number.NaN }), 'bad-options', 'beta must be a finite number');
    await expectCode(() => Tokenizer.create({ ...base, layout: 'planar' as 'strided' }), 'bad-options', 'layout');
    await expectCode(() => Tokenizer.create({ ...base, imageSize: 9 }), 'bad-image-size', 'multiples of');
    await expectCode(() => Tokenizer.create({ ...base, arch: 'vit', config: tinyVit, params: paramsVit, imageSize: 16 }), 'bad-image-size', '8×8');
    const { ['decoder.conv_out.bias']: _dropped, ...partial } = params;
    await expectCode(() => Tokenizer.create({ ...base, params: partial }), 'bad-params', 'decoder.conv_out.bias missing');
  });

  it('rejects bad images and bad tokens with typed errors, leaking nothing', async () => {
    const tokenizer = Tokenizer.create({ arch: 'unet', config: tinyUnet, params, codebook: { size: 16, dim: 2 } });
    const good = randomImages([1, 8, 8, 3], 6);
    const tokens = await tokenizer.encode(good);
    const growth = await tensorGrowth(async () => {
      const scaled = tf.mul(good, 127.5) as tf.Tensor4D;
      await expectCode(() => tokenizer.encode(scaled), 'bad-range', 'scale [0,255]');
      const nan = tf.tensor4d(new Float32Array(8 * 8 * 3).fill(Number.NaN), [1, 8, 8, 3]);
      await expectCode(() => tokenizer.encode(nan), 'non-finite', 'at (b=0, y=0, x=0, c=0)');
      const gray = tf.zeros([1, 8, 8, 1]) as tf.Tensor4D;
      await expectCode(() => tokenizer.encode(gray), 'bad-input', 'float32 [B, H, W, 3]');
      const odd = tf.zeros([1, 7, 8, 3]) as tf.Tensor4D;
      await expectCode(() => tokenizer.encode(odd), 'bad-image-size', 'got 7×8');
      tf.dispose([scaled, nan, gray, odd]);
      const outOfRange = Int32Array.from(tokens.indices);
      outOfRange[5] = 16;
      await expectCode(() => tokenizer.decode({ ...tokens, indices: outOfRange }), 'index-out-of-range', '16');
      await expectCode(() => tokenizer.decode({ ...tokens, shape: [1, 4, 4, 1] }), 'codebook-mismatch', 'G=2');
      await expectCode(() => tokenizer.decode({ ...tokens, bitsPerToken: 5 }), 'codebook-mismatch', 'bitsPerToken must be 4');
      await expectCode(() => tokenizer.decode({ ...tokens, indices: tokens.indices.subarray(1) }), 'bad-tokens', 'entries');
    });
    expect(growth).toBe(0);
    good.dispose();
    tokenizer.dispose();
  });
});

describe('memory', () => {
  it('create, encode, encodeMoments, decode, reconstruct, toArtifact, load and dispose leave no tensors behind', async () => {
    const images = randomImages([2, 8, 8, 3], 7);
    const growth = await tensorGrowth(async () => {
      for (const arch of ['unet', 'vit'] as const) {
        const tokenizer = arch === 'unet'
          ? Tokenizer.create({ arch, config: tinyUnet, params, codebook: { size: 16, dim: 2 } })
          : Tokenizer.create({ arch, config: tinyVit, params: paramsVit, codebook: codebookFromValues(new Float32Array(32).map((_, i) => i / 8 - 2), 16, 2) });
        const tokens = await tokenizer.encode(images);
        const { mu, logVar } = await tokenizer.encodeMoments(images);
        tf.dispose([mu, logVar, await tokenizer.decode(tokens), await tokenizer.reconstruct(images)]);
        const artifact = await toArtifact(tokenizer);
        const loaded = await Tokenizer.load(artifact);
        tf.dispose(await loaded.decode(await loaded.encode(images)));
        loaded.dispose();
        tokenizer.dispose();
      }
    });
    expect(growth).toBe(0);
    images.dispose();
  });
});
