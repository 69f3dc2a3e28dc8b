import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import {
  bitDifferences,
  expectCodedError,
  randomImages,
  randomNormalTensor,
  readFixtureBytes,
  setupBackend,
  vaeGradientCheck,
} from '@gq/test-utils';
import { parseSafetensors } from '@gq/safetensors';
import {
  VaeVitError,
  decode,
  encode,
  encodeMoments,
  exportWeights,
  importWeights,
  init,
  parameterCount,
  tokenCount,
  vitPresets,
  vitSpecs,
  type VitConfig,
} from '@gq/vae-vit';

const fixtureConfig: VitConfig = { imageSize: 32, patchSize: 4, width: 64, layers: 2, heads: 4, mlpRatio: 4, zChannels: 4, dimFfnOutput: 256 };
/** Same structure, small enough for the cpu backend to differentiate in a few seconds. */
const smallConfig: VitConfig = { imageSize: 16, patchSize: 4, width: 16, layers: 2, heads: 2, mlpRatio: 2, zChannels: 2, dimFfnOutput: 24 };

const expectError = (run: () => unknown, code: string, ...fragments: string[]): Promise<void> =>
  expectCodedError(run, VaeVitError, code, ...fragments);

describe('@gq/vae-vit model', () => {
  beforeAll(async () => {
    await setupBackend('cpu');
  });

  it('init is deterministic in the seed and follows the reference init', async () => {
    const a = init(fixtureConfig, 5);
    const b = init(fixtureConfig, 5);
    const c = init(fixtureConfig, 6);
    const w = 'encoder.transformer.resblocks.1.mlp.c_fc.weight';
    expect(bitDifferences((await a[w]!.data()) as Float32Array, (await b[w]!.data()) as Float32Array)).toBe(0);
    expect(bitDifferences((await a[w]!.data()) as Float32Array, (await c[w]!.data()) as Float32Array)).toBeGreaterThan(0);
    expect(bitDifferences(await exportWeights(fixtureConfig, a), await exportWeights(fixtureConfig, b))).toBe(0);
    // Block weights are N(0, 0.02²) over 16 384 draws: the sample std is within 3% with overwhelming probability.
    const values = (await a[w]!.data()) as Float32Array;
    const std = Math.sqrt(values.reduce((s, v) => s + v * v, 0) / values.length);
    expect(Math.abs(std - 0.02)).toBeLessThan(0.02 * 0.03);
    expect(Array.from((await a['encoder.transformer.resblocks.0.attn.in_proj_bias']!.data()) as Float32Array).every((v) => v === 0)).toBe(true);
    // quant_embed keeps PyTorch's default Linear init U(±1/√64).
    const quant = (await a['encoder.quant_embed.weight']!.data()) as Float32Array;
    expect(quant.every((v) => Math.abs(v) <= 1 / 8)).toBe(true);
    tf.dispose([...Object.values(a), ...Object.values(b), ...Object.values(c)]);
  });

  it('preset parameter counts equal the sum of their state_dict shapes; the paper preset matches BSQ-ViT-B', () => {
    for (const preset of Object.values(vitPresets)) {
      const expected = vitSpecs(preset).reduce((n, s) => n + s.torchShape.reduce((a, b) => a * b, 1), 0);
      expect(parameterCount(preset).total).toBe(expected);
    }
    // Per block 12·D² + 13·D (attention 4D² + 4D, MLP 8D² + 5D, two LayerNorms 4D); D = 768, 12 blocks, 1024 tokens.
    const d = 768;
    const blocks = 12 * (12 * d * d + 13 * d);
    const encoder = 1024 * d + 192 * d + 2 * d + blocks + 2 * d + (d * 32 + 32);
    expect(parameterCount(vitPresets.paper).encoder).toBe(encoder);
    expect(tokenCount(vitPresets.paper)).toBe(1024);
  });

  it('gradients reach every parameter, finite and not all zero, without leaking tensors', async () => {
    const config = smallConfig;
    const params = init(config, 13);
    const l = tokenCount(config);
    const x = randomImages([2, 16, 16, 3], 1);
    const z = randomNormalTensor([2, l, 2], 2) as tf.Tensor3D;
    const model = {
      encode: (tree: Record<string, tf.Tensor>, input: tf.Tensor4D) => encode(config, tree, input),
      decode: (tree: Record<string, tf.Tensor>, latent: tf.Tensor3D) => decode(config, tree, latent),
      encodeMoments: (tree: Record<string, tf.Tensor>, input: tf.Tensor4D) => encodeMoments(config, tree, input),
    };
    expect(await vaeGradientCheck(model, params, x, z)).toEqual({ problems: [], stepGrowth: 0, forwardGrowth: 0 });
    tf.dispose([x, z, ...Object.values(params)]);
  });

  it('unpatchify follows the reference feature order c·p² + (y mod p)·p + (x mod p)', async () => {
    const config = smallConfig;
    const params = init(config, 2);
    const p = config.patchSize;
    const side = config.imageSize;
    const features = 3 * p * p;
    const pick = new Float32Array(config.dimFfnOutput * features);
    const tree = { ...params };
    // conv_out's weight is zero and its bias is the feature index, so every token decodes to 0..3p²−1.
    const bias = Float32Array.from({ length: features }, (_, f) => f);
    tree['decoder.conv_out.weight'] = tf.tensor2d(pick, [config.dimFfnOutput, features]);
    tree['decoder.conv_out.bias'] = tf.tensor1d(bias);
    const out = decode(config, tree, tf.zeros([1, tokenCount(config), config.zChannels]) as tf.Tensor3D);
    const data = (await out.data()) as Float32Array;
    // Pixel (y, x, c) must hold feature c·p² + (y mod p)·p + (x mod p).
    let wrong = 0;
    for (let y = 0; y < side; y++) {
      for (let x = 0; x < side; x++) {
        for (let c = 0; c < 3; c++) if (data[(y * side + x) * 3 + c] !== c * p * p + (y % p) * p + (x % p)) wrong++;
      }
    }
    expect(wrong).toBe(0);
    tf.dispose([out, tree['decoder.conv_out.weight'], tree['decoder.conv_out.bias'], ...Object.values(params)]);
  });

  it('rejects wrong channels, sizes not matching the patch grid and bad configs with typed errors', async () => {
    const params = init(smallConfig, 1);
    const wrongChannels = tf.zeros([1, 16, 16, 4]) as tf.Tensor4D;
    const notPatchMultiple = tf.zeros([1, 18, 16, 3]) as tf.Tensor4D;
    const badLatent = tf.zeros([1, 16, 3]) as tf.Tensor3D;
    await expectError(() => encode(smallConfig, params, wrongChannels), 'bad-input', 'encode', '[1,16,16,4]');
    await expectError(() => encode(smallConfig, params, notPatchMultiple), 'bad-input', 'divisible by patch 4', '[1,18,16,3]');
    await expectError(() => decode(smallConfig, params, badLatent), 'bad-input', 'decode', '[B,16,2]', '[1,16,3]');
    await expectError(() => init({ ...smallConfig, heads: 3 }, 1), 'bad-config', 'heads=3');
    await expectError(() => init({ ...smallConfig, imageSize: 18 }, 1), 'bad-config', 'patchSize=4');
    tf.dispose([wrongChannels, notPatchMultiple, badLatent, ...Object.values(params)]);
  });

  it('importWeights lists missing, unexpected and mis-shaped keys', async () => {
    const weights = new Map(parseSafetensors(readFixtureBytes('vit-tiny', 'model.safetensors')).tensors);
    weights.delete('decoder.ln_post.bias');
    weights.set('encoder.conv1.bias', { dtype: 'F32', shape: [64], data: new Float32Array(64) });
    weights.set('encoder.quant_embed.weight', { dtype: 'F32', shape: [64, 8], data: new Float32Array(512) });
    await expectError(
      () => importWeights(fixtureConfig, weights),
      'bad-weights',
      '1 missing: decoder.ln_post.bias',
      '1 unexpected: encoder.conv1.bias',
      'encoder.quant_embed.weight (shape [64,8], expected [8,64])',
    );
  });
});
