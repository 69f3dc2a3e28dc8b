import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { readFixtureBytes, readFixtureJson, readFixtureTensors, setupBackend } from '@gq/test-utils';
import { parseSafetensors } from '@gq/safetensors';
import { createCodebook } from '@gq/codebook';
import { importWeights, unetConfigFromReference } from '@gq/vae-unet';
import { Tokenizer, toArtifact } from '@gq/tokenizer';
import { oracleSelect } from './helpers.js';

beforeAll(async () => {
  await setupBackend('cpu');
});

/** NCHW [1, C, H, W] (first image of a batch) → NHWC rows. */
function firstImageNhwc(data: ArrayLike<number>, channels: number, height: number, width: number): Float64Array {
  const out = new Float64Array(channels * height * width);
  for (let c = 0; c < channels; c++) {
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) out[(y * width + x) * channels + c] = data[(c * height + y) * width + x]!;
    }
  }
  return out;
}

describe('reference UNet (unet-tiny fixture)', () => {
  it('tokens of the reference weights equal float64 GQ on the PyTorch float64 moments, except near-ties', async () => {
    const config = unetConfigFromReference(readFixtureJson<{ encoder: { params: Record<string, unknown> } }>('unet-tiny', 'config.json').encoder.params);
    const params = importWeights(config, readFixtureBytes('unet-tiny', 'model.safetensors'));
    const io = readFixtureTensors(parseSafetensors, 'unet-tiny', 'io.safetensors');
    const codebook = createCodebook({ size: 16, dim: 2, seed: 42, method: 'sobol' });
    const created = Tokenizer.create({ arch: 'unet', config, params, codebook });
    tf.dispose(Object.values(params));
    // Through an artifact, so the loaded tokenizer (reference key names in the weights) is what is checked.
    const tokenizer = await Tokenizer.load(await toArtifact(created));
    created.dispose();

    const x = firstImageNhwc(io.get('x')!.data as Float32Array, 3, 32, 32);
    const images = tf.tensor4d(Float32Array.from(x), [1, 32, 32, 3]);
    const tokens = await tokenizer.encode(images);
    expect(tokens.shape).toEqual([1, 16, 16, 2]);

    const moments = firstImageNhwc(io.get('moments_f64')!.data as Float64Array, 8, 16, 16);
    const mu = new Float64Array(256 * 4);
    const logVar = new Float64Array(256 * 4);
    for (let p = 0; p < 256; p++) {
      for (let c = 0; c < 4; c++) {
        mu[p * 4 + c] = moments[p * 8 + c]!;
        logVar[p * 4 + c] = moments[p * 8 + 4 + c]!;
      }
    }
    // The premises of the tolerance below.
    expect(Math.max(...Array.from(codebook.values, Math.abs))).toBeLessThanOrEqual(3);
    expect(Math.max(...Array.from(mu, Math.abs))).toBeLessThanOrEqual(1.4);
    expect(Math.min(...logVar)).toBeGreaterThanOrEqual(-1.05);
    const oracle = oracleSelect(mu, logVar, 4, codebook, 1, 'strided');
    // Our float32 moments may differ from PyTorch's float64 ones by up to 1e-4 (the VAE package's
    // fixture tolerance). Here |μ| ≤ 1.4, ℓ ∈ [−1.05, 1.09] (σ⁻² ≤ 2.9) and |c| ≤ 3 for K = 16, so per
    // dimension |∂S/∂μ| = |c − μ|σ⁻² ≤ 13 and |∂S/∂ℓ| = (c − μ)²σ⁻²/2 ≤ 28: a score moves by at most
    // 2·(13 + 28)·1e-4 ≈ 8e-3 and a top-2 gap by 1.6e-2. Only gaps below 2e-2 may legitimately flip.
    let compared = 0;
    let mismatched = 0;
    for (let i = 0; i < oracle.indices.length; i++) {
      if (oracle.gaps[i]! > 2e-2) {
        compared++;
        if (tokens.indices[i] !== oracle.indices[i]) mismatched++;
      }
    }
    expect(mismatched).toBe(0);
    expect(compared).toBeGreaterThan(0.8 * oracle.indices.length);
    expect(new Set(tokens.indices).size).toBeGreaterThan(8);
    images.dispose();
    tokenizer.dispose();
  });
});
