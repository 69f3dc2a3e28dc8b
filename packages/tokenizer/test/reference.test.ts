import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { readFixtureBytes, readFixtureTensors, readVaeFixture, setupBackend, tensorGrowth } from '@gq/test-utils';
import { parseSafetensors } from '@gq/safetensors';
import { createCodebook } from '@gq/codebook';
import { unetConfigFromReference } from '@gq/vae-unet';
import { vitConfigFromReference } from '@gq/vae-vit';
import { Tokenizer, toArtifact, tokenizerFromReference } from '@gq/tokenizer';
import { expectCode, oracleAgreement, oracleSelect, referenceImageRows, referenceMomentRows } from './helpers.js';

/*
 * A tokenizer made from the reference implementation's weights (unet-tiny: safetensors; vit-tiny:
 * a Lightning-style .ckpt) uses the reference's own codebook by default, so its tokens are the
 * reference's token ids: the gq-search fixture's table (the reference module's prior_samples buffer
 * for K = 256, m = 4, seed 42) and GQ selection on the reference's float64 moments.
 */

beforeAll(async () => {
  await setupBackend('cpu');
});

const unet = readVaeFixture('unet-tiny', parseSafetensors);
const unetConfig = unetConfigFromReference(unet.encoderParams);
/** The reference module's prior_samples buffer for K = 256, m = 4, seed 42 (F32 [256, 4]). */
const referenceTable = readFixtureTensors(parseSafetensors, 'gq-search', 'search_K256_m4_N64.safetensors').get('codebook')!.data as Float32Array;

describe('tokenizerFromReference', () => {
  it("defaults to the reference's codebook: 'torch-sobol', seed 42, equal to the module's prior_samples", async () => {
    const tokenizer = tokenizerFromReference({ arch: 'unet', config: unetConfig, weights: unet.modelBytes, codebook: { size: 256, dim: 4 } });
    expect(tokenizer.codebook.method).toBe('torch-sobol');
    expect(tokenizer.codebook.seed).toBe(42);
    expect(new Uint32Array(tokenizer.codebook.values.buffer)).toEqual(new Uint32Array(Float32Array.from(referenceTable).buffer));
    expect(tokenizer.describe().codebook).toEqual({ method: 'torch-sobol', size: 256, dim: 4, seed: 42, version: 1 });

    // The artifact records the method and loads to the same table.
    const artifact = await toArtifact(tokenizer);
    expect(artifact.manifest.codebook).toEqual({ method: 'torch-sobol', size: 256, dim: 4, seed: 42, version: 1 });
    const loaded = await Tokenizer.load(artifact);
    expect(loaded.codebook).toBe(tokenizer.codebook);
    tokenizer.dispose();
    loaded.dispose();
  });

  it("emits the reference's token ids: GQ with its table on its float64 moments, except near-ties", async () => {
    const tokenizer = tokenizerFromReference({ arch: 'unet', config: unetConfig, weights: unet.modelBytes, codebook: { size: 256, dim: 4 } });
    const images = tf.tensor4d(referenceImageRows(unet.io.get('x')!.data as Float32Array, 3, 32, 32), [1, 32, 32, 3]);
    const tokens = await tokenizer.encode(images);
    images.dispose();
    expect(tokens.shape).toEqual([1, 16, 16, 1]);

    const { mu, logVar } = referenceMomentRows(unet.io.get('moments_f64')!.data as Float64Array, 4, 16, 16);
    // Premises of the tolerance: |c| ≤ 3.2 (this table), |μ| ≤ 1.4, ℓ ≥ −1.05 (σ⁻² ≤ 2.9).
    expect(Math.max(...Array.from(tokenizer.codebook.values, Math.abs))).toBeLessThanOrEqual(3.2);
    expect(Math.max(...Array.from(mu, Math.abs))).toBeLessThanOrEqual(1.4);
    expect(Math.min(...logVar)).toBeGreaterThanOrEqual(-1.05);
    // Our float32 moments are within 1e-4 of PyTorch's float64 ones (the VAE packages' fixture
    // tolerance). Per dimension |∂S/∂μ| = |c − μ|σ⁻² ≤ 4.6·2.9 ≈ 13.4 and |∂S/∂ℓ| = (c − μ)²σ⁻²/2 ≤ 30.7,
    // so over m = 4 dimensions a score moves by at most 4·44·1e-4 ≈ 1.8e-2 and a top-2 gap by 3.6e-2.
    const oracle = oracleSelect(mu, logVar, 4, tokenizer.codebook, 1, 'strided');
    const { compared, mismatched } = oracleAgreement(tokens.indices, oracle, 4e-2);
    expect(mismatched).toBe(0);
    expect(compared).toBeGreaterThan(0.6 * oracle.indices.length);
    expect(new Set(tokens.indices).size).toBeGreaterThan(32);
    tokenizer.dispose();
  });

  it('reads a Lightning .ckpt (vit-tiny) to the same tokenizer as its safetensors twin, and honours an explicit codebook', async () => {
    const vit = readVaeFixture('vit-tiny', parseSafetensors);
    const config = vitConfigFromReference(vit.decoderParams);
    const fromCheckpoint = tokenizerFromReference({ arch: 'vit', config, weights: readFixtureBytes('vit-tiny', 'model.ckpt'), codebook: { size: 16, dim: 2 } });
    const fromSafetensors = tokenizerFromReference({ arch: 'vit', config, weights: vit.modelBytes, codebook: { size: 16, dim: 2 } });
    expect((await toArtifact(fromCheckpoint)).manifest.artifactId).toBe((await toArtifact(fromSafetensors)).manifest.artifactId);
    expect(fromCheckpoint.codebook).toBe(createCodebook({ size: 16, dim: 2, seed: 42, method: 'torch-sobol' }));
    const portable = createCodebook({ size: 16, dim: 2, seed: 42, method: 'sobol' });
    const explicit = tokenizerFromReference({ arch: 'vit', config, weights: vit.modelBytes, codebook: portable, beta: 0.5 });
    expect(explicit.codebook).toBe(portable);
    expect(explicit.beta).toBe(0.5);
    const seeded = tokenizerFromReference({ arch: 'vit', config, weights: vit.modelBytes, codebook: { size: 16, dim: 2, seed: 7 } });
    expect(seeded.describe().codebook).toEqual({ method: 'torch-sobol', size: 16, dim: 2, seed: 7, version: 1 });
    for (const t of [fromCheckpoint, fromSafetensors, explicit, seeded]) t.dispose();
  });

  it('rejects weights that do not match the config with bad-weights, and leaks no tensor', async () => {
    const grew = await tensorGrowth(async () => {
      const other = { ...unetConfig, ch: 64 };
      await expectCode(() => tokenizerFromReference({ arch: 'unet', config: other, weights: unet.modelBytes, codebook: { size: 16, dim: 2 } }), 'bad-weights', 'tokenizerFromReference');
      await expectCode(() => tokenizerFromReference({ arch: 'unet', config: unetConfig, weights: new Uint8Array([80, 75, 3, 4, 0, 0]), codebook: { size: 16, dim: 2 } }), 'bad-weights');
      await expectCode(() => tokenizerFromReference({ arch: 'unet', config: unetConfig, weights: unet.modelBytes, codebook: { size: 16, dim: 3 } }), 'codebook-mismatch');
      await expectCode(() => tokenizerFromReference(null as never), 'bad-options');
      tokenizerFromReference({ arch: 'unet', config: unetConfig, weights: unet.modelBytes, codebook: { size: 16, dim: 2 } }).dispose();
    });
    expect(grew).toBe(0);
  });
});
