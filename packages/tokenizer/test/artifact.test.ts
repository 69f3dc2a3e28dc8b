import { createHash } from 'node:crypto';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setupBackend } from '@gq/test-utils';
import { createCodebook, codebookFromValues } from '@gq/codebook';
import { isGqError } from '@gq/core';
import { SafetensorsError, parseSafetensors, serializeSafetensors } from '@gq/safetensors';
import { exportWeights as exportUnet, unetSpecs } from '@gq/vae-unet';
import { vitSpecs } from '@gq/vae-vit';
import {
  ARTIFACT_MAGIC,
  Tokenizer,
  TokenizerError,
  packArtifact,
  toArtifact,
  unpackArtifact,
  type TokenizerArtifact,
  type TokenizerManifest,
} from '@gq/tokenizer';
import { CODEBOOK_WEIGHTS_KEY, computeArtifactId } from '@gq/tokenizer/internal';
import { bitDifferences, expectCode, randomImages, tinyUnet, tinyVit, unetParams, vitParams } from './helpers.js';

let params: Record<string, tf.Tensor>;
let paramsVit: Record<string, tf.Tensor>;
let unetTokenizer: Tokenizer;
let vitTokenizer: Tokenizer;
let unetArtifact: TokenizerArtifact;
let vitArtifact: TokenizerArtifact;
let images: tf.Tensor4D;

const tableValues = Float32Array.from(createCodebook({ size: 64, dim: 4, seed: 8, method: 'normal' }).values, (v) => v * 0.9);

beforeAll(async () => {
  await setupBackend('cpu');
  params = unetParams(21);
  paramsVit = vitParams(22);
  unetTokenizer = Tokenizer.create({ arch: 'unet', config: tinyUnet, params, codebook: { size: 256, dim: 2, seed: 42, method: 'sobol' }, beta: 0.5 });
  vitTokenizer = Tokenizer.create({ arch: 'vit', config: tinyVit, params: paramsVit, codebook: codebookFromValues(tableValues, 64, 4), layout: 'contiguous' });
  unetArtifact = await toArtifact(unetTokenizer, { training: { steps: 3, dataset: 'synthetic' }, metrics: { psnrMu: 12.5 }, packages: { '@gq/tokenizer': '0.0.0' } });
  vitArtifact = await toArtifact(vitTokenizer);
  images = randomImages([2, 8, 8, 3], 31);
});

afterAll(() => {
  unetTokenizer.dispose();
  vitTokenizer.dispose();
  tf.dispose([...Object.values(params), ...Object.values(paramsVit), images]);
});

/** An independent canonical JSON (sorted keys) for the artifact-id oracle. */
function sortedJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(sortedJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${sortedJson((value as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

function oracleArtifactId(manifest: TokenizerManifest, weights: Uint8Array): string {
  const { artifactId: _id, training: _t, metrics: _m, packages: _p, ...core } = manifest;
  const json = Buffer.from(sortedJson(core), 'utf8');
  const length = Buffer.alloc(4);
  length.writeUInt32LE(json.length);
  return createHash('sha256').update(length).update(json).update(weights).digest('hex');
}

function edited(manifest: TokenizerManifest, change: (m: Record<string, unknown>) => void): Record<string, unknown> {
  const copy = JSON.parse(JSON.stringify(manifest)) as Record<string, unknown>;
  change(copy);
  return copy;
}

describe('artifact round trip', () => {
  for (const arch of ['unet', 'vit'] as const) {
    it(`${arch}: create → toArtifact → pack → unpack → load gives identical tokens and bit-identical decode`, async () => {
      const tokenizer = arch === 'unet' ? unetTokenizer : vitTokenizer;
      const artifact = arch === 'unet' ? unetArtifact : vitArtifact;
      const packed = packArtifact(artifact);
      const unpacked = unpackArtifact(packed.slice().buffer);
      expect(unpacked.manifest).toEqual(artifact.manifest);
      expect(bitDifferences(unpacked.weights, artifact.weights)).toBe(0);
      const loaded = await Tokenizer.load(packed);
      const fromFiles = await Tokenizer.load({ manifest: artifact.manifestJson, weights: artifact.weights });
      const original = await tokenizer.encode(images);
      for (const other of [loaded, fromFiles]) {
        expect(other.artifactId).toBe(artifact.manifest.artifactId);
        expect(other.layout).toBe(tokenizer.layout);
        expect(other.beta).toBe(tokenizer.beta);
        expect(Array.from(other.codebook.values)).toEqual(Array.from(tokenizer.codebook.values));
        const tokens = await other.encode(images);
        expect(tokens.shape).toEqual(original.shape);
        expect(Array.from(tokens.indices)).toEqual(Array.from(original.indices));
        const a = await tokenizer.decode(original);
        const b = await other.decode(tokens);
        expect(bitDifferences(await a.data(), await b.data())).toBe(0);
        tf.dispose([a, b]);
        other.dispose();
      }
    });
  }

  it('the artifact id is the SHA-256 of the canonical manifest core and the weights, independent of training and metrics', async () => {
    for (const artifact of [unetArtifact, vitArtifact]) {
      expect(artifact.manifest.artifactId).toMatch(/^[0-9a-f]{64}$/);
      expect(artifact.manifest.artifactId).toBe(oracleArtifactId(artifact.manifest, artifact.weights));
    }
    const again = await toArtifact(unetTokenizer, { metrics: { psnrMu: 99 } });
    expect(again.manifest.artifactId).toBe(unetArtifact.manifest.artifactId);
    expect(unetTokenizer.artifactId).toBe(unetArtifact.manifest.artifactId);
    const otherBeta = Tokenizer.create({ arch: 'unet', config: tinyUnet, params, codebook: { size: 256, dim: 2 }, beta: 1 });
    expect(otherBeta.artifactId).toBeNull();
    expect((await toArtifact(otherBeta)).manifest.artifactId).not.toBe(unetArtifact.manifest.artifactId);
    otherBeta.dispose();
  });

  it('the manifest records format, config, codebook, layout, β, geometry and rates', () => {
    const m = unetArtifact.manifest;
    expect(m.format).toBe('gq-tokenizer');
    expect(m.formatVersion).toBe(1);
    expect(m.arch).toBe('unet');
    expect(m.config).toEqual(tinyUnet);
    expect(m.codebook).toEqual({ method: 'sobol', size: 256, dim: 2, seed: 42, version: 1 });
    expect(m.layout).toBe('strided');
    expect(m.beta).toBe(0.5);
    expect(m.image).toEqual({ height: 8, width: 8, channels: 3 });
    expect(m.latent).toEqual({ height: 4, width: 4, channels: 4 });
    // G = 4/2 = 2 tokens of 8 bits per position at f = 2: 16 bits per 4 pixels.
    expect([m.downsamplingFactor, m.tokensPerPosition, m.tokensPerImage, m.bitsPerToken, m.bitsPerImage, m.bitsPerPixel]).toEqual([2, 2, 32, 8, 256, 4]);
    expect(m.training).toEqual({ steps: 3, dataset: 'synthetic' });
    expect(m.metrics).toEqual({ psnrMu: 12.5 });
    expect(m.packages).toEqual({ '@gq/tokenizer': '0.0.0' });
    expect(JSON.parse(unetArtifact.manifestJson)).toEqual(m);
    expect(vitArtifact.manifest.codebook).toEqual({ method: 'table', size: 64, dim: 4, storage: 'weights', key: CODEBOOK_WEIGHTS_KEY });
    expect(vitArtifact.manifest.training).toBeNull();
  });

  it('weights use the reference state_dict names (the VAE package export); a table codebook adds gq.codebook F32 [K, m]', async () => {
    expect(bitDifferences(unetArtifact.weights, await exportUnet(tinyUnet, unetTokenizer.params))).toBe(0);
    const unetKeys = [...parseSafetensors(unetArtifact.weights).tensors.keys()];
    expect(unetKeys).toEqual(unetSpecs(tinyUnet).map((s) => s.name));
    const vitFile = parseSafetensors(vitArtifact.weights);
    expect([...vitFile.tensors.keys()].sort()).toEqual([...vitSpecs(tinyVit).map((s) => s.name), CODEBOOK_WEIGHTS_KEY].sort());
    const table = vitFile.tensors.get(CODEBOOK_WEIGHTS_KEY)!;
    expect(table.dtype).toBe('F32');
    expect(table.shape).toEqual([64, 4]);
    expect(bitDifferences(table.data as Float32Array, tableValues)).toBe(0);
  });
});

describe('container corruption', () => {
  it('wrong magic, wrong version, truncation anywhere, trailing bytes and flipped bits are typed errors', async () => {
    const packed = packArtifact(unetArtifact);
    const manifestLength = Number(new DataView(packed.buffer).getBigUint64(16, true));
    const magic = packed.slice();
    magic[1] = 0x48;
    await expectCode(() => Tokenizer.load(magic), 'bad-magic', '89 48 51 54');
    expect(Array.from(packed.subarray(0, 8))).toEqual(ARTIFACT_MAGIC);
    const version = packed.slice();
    new DataView(version.buffer).setUint32(8, 2, true);
    await expectCode(() => unpackArtifact(version), 'bad-version', 'container version must be 1, got 2');
    for (const cut of [0, 7, 31, 32 + Math.floor(manifestLength / 2), 32 + manifestLength, packed.length - 1]) {
      await expectCode(() => Tokenizer.load(packed.subarray(0, cut)), 'truncated');
    }
    const longer = new Uint8Array(packed.length + 3);
    longer.set(packed);
    await expectCode(() => unpackArtifact(longer), 'length-mismatch', '3 trailing bytes');
    const flipped = packed.slice();
    flipped[packed.length - 10]! ^= 0x04;
    await expectCode(() => Tokenizer.load(flipped), 'checksum-mismatch');
    await expectCode(() => Tokenizer.load('manifest.json' as unknown as Uint8Array), 'bad-input');
  });

  it('a manifest with missing, unknown, ill-typed or inconsistent fields is rejected', async () => {
    const m = unetArtifact.manifest;
    const weights = unetArtifact.weights;
    const load = (manifest: unknown) => Tokenizer.load({ manifest: manifest as object, weights });
    await expectCode(() => load('{"format": "gq-tokenizer",'), 'bad-manifest', 'must be JSON');
    await expectCode(() => load(edited(m, (x) => delete x.codebook)), 'bad-manifest', 'missing codebook');
    await expectCode(() => load(edited(m, (x) => delete x.beta)), 'bad-manifest', 'missing beta');
    await expectCode(() => load(edited(m, (x) => (x.extra = 1))), 'bad-manifest', 'unknown extra');
    await expectCode(() => load(edited(m, (x) => (x.format = 'other'))), 'bad-manifest', "format must be 'gq-tokenizer'");
    await expectCode(() => load(edited(m, (x) => (x.formatVersion = 2))), 'bad-version', 'formatVersion must be 1, got 2');
    await expectCode(() => load(edited(m, (x) => (x.arch = 'cnn'))), 'bad-arch');
    await expectCode(() => load(edited(m, (x) => delete (x.config as Record<string, unknown>).zChannels)), 'bad-config', 'zChannels');
    await expectCode(() => load(edited(m, (x) => ((x.codebook as Record<string, unknown>).dim = 3))), 'codebook-mismatch', 'm=3 must divide the latent channels C=4');
    await expectCode(() => load(edited(m, (x) => ((x.codebook as Record<string, unknown>).size = 100))), 'bad-manifest', 'power of two');
    await expectCode(() => load(edited(m, (x) => ((x.codebook as Record<string, unknown>).method = 'uniform'))), 'bad-manifest', 'codebook.method');
    await expectCode(() => load(edited(m, (x) => ((x.latent as Record<string, unknown>).height = 8))), 'manifest-mismatch', 'latent must be');
    await expectCode(() => load(edited(m, (x) => (x.bitsPerPixel = 2))), 'manifest-mismatch', 'bitsPerPixel must be 4');
    await expectCode(() => load(edited(m, (x) => (x.tokensPerPosition = 4))), 'manifest-mismatch', 'tokensPerPosition must be 2');
    await expectCode(() => load(edited(m, (x) => ((x.image as Record<string, unknown>).channels = 1))), 'manifest-mismatch', 'image.channels');
    await expectCode(() => load(edited(m, (x) => ((x.image as Record<string, unknown>).height = 7))), 'bad-image-size');
    await expectCode(() => load(edited(m, (x) => (x.artifactId = 'abc'))), 'bad-manifest', 'artifactId');
    await expectCode(() => load(edited(m, (x) => (x.metrics = [1, 2]))), 'bad-manifest', 'metrics must be an object or null');
    // A consistent edit of a core field changes what the id covers.
    await expectCode(() => load(edited(m, (x) => (x.beta = 1))), 'artifact-id-mismatch', m.artifactId);
  });

  it("another package's error reaches the caller as a TokenizerError that keeps it as cause", async () => {
    let caught: unknown;
    try {
      await Tokenizer.load({ manifest: unetArtifact.manifest, weights: new Uint8Array([1, 2, 3]) }, { verify: false });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(TokenizerError);
    expect(isGqError(caught)).toBe(true);
    const error = caught as TokenizerError;
    expect([error.source, error.code]).toEqual(['@gq/tokenizer', 'bad-weights']);
    expect(error.message).toBe('Tokenizer.load: parseSafetensors: file must hold at least 8 bytes, got 3');
    expect(error.cause).toBeInstanceOf(SafetensorsError);
    expect([(error.cause as SafetensorsError).source, (error.cause as SafetensorsError).code]).toEqual(['@gq/safetensors', 'truncated']);
  });

  it('weights that do not match the manifest are rejected: altered bytes, missing keys, a wrong codebook table', async () => {
    const m = unetArtifact.manifest;
    const altered = unetArtifact.weights.slice();
    altered[altered.length - 1]! ^= 0x01;
    await expectCode(() => Tokenizer.load({ manifest: m, weights: altered }), 'artifact-id-mismatch', 'computed');

    const file = parseSafetensors(unetArtifact.weights);
    const partial = Object.fromEntries([...file.tensors].filter(([name]) => name !== 'decoder.conv_out.weight'));
    const missing = serializeSafetensors(partial, file.metadata);
    await expectCode(() => Tokenizer.load({ manifest: m, weights: missing }, { verify: false }), 'bad-weights', 'decoder.conv_out.weight');
    const withId = { ...m, artifactId: await computeArtifactId('test', m, missing) };
    await expectCode(() => Tokenizer.load({ manifest: withId, weights: missing }), 'bad-weights', 'decoder.conv_out.weight');
    await expectCode(() => Tokenizer.load({ manifest: m, weights: new Uint8Array([1, 2, 3]) }, { verify: false }), 'bad-weights', 'at least 8 bytes');

    const vitFile = parseSafetensors(vitArtifact.weights);
    const wrongTable = Object.fromEntries(vitFile.tensors);
    wrongTable[CODEBOOK_WEIGHTS_KEY] = { dtype: 'F32', shape: [32, 4], data: tableValues.subarray(0, 128) };
    const bytes = serializeSafetensors(wrongTable, vitFile.metadata);
    const manifest = { ...vitArtifact.manifest, artifactId: await computeArtifactId('test', vitArtifact.manifest, bytes) };
    await expectCode(() => Tokenizer.load({ manifest, weights: bytes }), 'codebook-mismatch', 'F32 [64,4], got F32 [32,4]');
    const noTable = Object.fromEntries([...vitFile.tensors].filter(([name]) => name !== CODEBOOK_WEIGHTS_KEY));
    await expectCode(() => Tokenizer.load({ manifest: vitArtifact.manifest, weights: serializeSafetensors(noTable) }, { verify: false }), 'codebook-mismatch', 'no such tensor');
    const nanTable = Object.fromEntries(vitFile.tensors);
    nanTable[CODEBOOK_WEIGHTS_KEY] = { dtype: 'F32', shape: [64, 4], data: tableValues.map((v, i) => (i === 9 ? Number.NaN : v)) };
    await expectCode(() => Tokenizer.load({ manifest: vitArtifact.manifest, weights: serializeSafetensors(nanTable) }, { verify: false }), 'codebook-mismatch', 'finite');
  });

  it('toArtifact refuses metrics that JSON cannot hold instead of writing null', async () => {
    await expectCode(() => toArtifact(unetTokenizer, { metrics: { psnr: Number.POSITIVE_INFINITY } }), 'bad-options', 'metrics.psnr');
    await expectCode(() => toArtifact(unetTokenizer, { packages: { '@gq/nn': 1 as unknown as string } }), 'bad-options', 'version strings');
  });
});
