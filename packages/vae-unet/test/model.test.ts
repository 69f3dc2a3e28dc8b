import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import {
  bitDifferences,
  expectCodedError,
  randomImages,
  randomNormalTensor,
  readFixtureBytes,
  readFixtureJson,
  setupBackend,
  vaeGradientCheck,
} from '@gq/test-utils';
import { parseSafetensors } from '@gq/safetensors';
import {
  VaeUnetError,
  decode,
  downsamplingFactor,
  encode,
  encodeMoments,
  exportWeights,
  importWeights,
  init,
  parameterCount,
  unetConfigFromReference,
  unetPresets,
  unetSpecs,
  type UnetConfig,
} from '@gq/vae-unet';

const fixtureConfig = (): UnetConfig =>
  unetConfigFromReference(readFixtureJson<{ encoder: { params: Record<string, unknown> } }>('unet-tiny', 'config.json').encoder.params);

/** Every block type of the reference (nin_shortcut, attention, down/upsampling, mid) at a size the cpu backend differentiates quickly. */
const smallConfig: UnetConfig = { resolution: 8, inChannels: 3, outChannels: 3, ch: 8, chMult: [1, 2], numResBlocks: 1, attnResolutions: [4], zChannels: 2, numGroups: 4 };

const expectError = (run: () => unknown, code: string, ...fragments: string[]): Promise<void> =>
  expectCodedError(run, VaeUnetError, code, ...fragments);

describe('@gq/vae-unet model', () => {
  beforeAll(async () => {
    await setupBackend('cpu');
  });

  it('init is deterministic in the seed and follows PyTorch default init ranges', async () => {
    const config = fixtureConfig();
    const a = init(config, 7);
    const b = init(config, 7);
    const c = init(config, 8);
    const w = 'encoder.down.1.block.0.conv1.weight';
    expect(await a[w]!.data()).toEqual(await b[w]!.data());
    expect(await a[w]!.data()).not.toEqual(await c[w]!.data());
    // Conv weights and biases are U(±1/√fan_in), fan_in = 32·3·3 here; the sample must fill most of that range.
    const values = (await a[w]!.data()) as Float32Array;
    const bound = 1 / Math.sqrt(32 * 9);
    const max = values.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    expect(max).toBeLessThanOrEqual(bound);
    expect(max).toBeGreaterThan(0.99 * bound);
    // Mean of 18 432 uniforms: |mean| ≤ 5·bound/√(3n) with overwhelming probability.
    const mean = values.reduce((s, v) => s + v, 0) / values.length;
    expect(Math.abs(mean)).toBeLessThan((5 * bound) / Math.sqrt(3 * values.length));
    expect(Array.from((await a['encoder.norm_out.weight']!.data()) as Float32Array).every((v) => v === 1)).toBe(true);
    expect(Array.from((await a['encoder.norm_out.bias']!.data()) as Float32Array).every((v) => v === 0)).toBe(true);
    // Exported weights of the same seed are byte-identical.
    expect(bitDifferences(await exportWeights(config, a), await exportWeights(config, b))).toBe(0);
    tf.dispose([...Object.values(a), ...Object.values(b), ...Object.values(c)]);
  });

  it('preset parameter counts equal the sum of their state_dict shapes', () => {
    for (const preset of Object.values(unetPresets)) {
      const specs = unetSpecs(preset);
      const expected = specs.reduce((n, s) => n + s.torchShape.reduce((a, b) => a * b, 1), 0);
      expect(parameterCount(preset).total).toBe(expected);
    }
    expect(downsamplingFactor(unetPresets.paper)).toBe(8);
    expect(downsamplingFactor(unetPresets.cpu32)).toBe(4);
    expect(downsamplingFactor(unetPresets.cpu64)).toBe(8);
  });

  it('gradients reach every parameter, finite and not all zero, without leaking tensors', async () => {
    const config = smallConfig;
    const params = init(config, 11);
    const x = randomImages([2, 8, 8, 3], 1);
    const z = randomNormalTensor([2, 4, 4, 2], 2) as tf.Tensor4D;
    const model = {
      encode: (tree: Record<string, tf.Tensor>, input: tf.Tensor4D) => encode(config, tree, input),
      decode: (tree: Record<string, tf.Tensor>, latent: tf.Tensor4D) => decode(config, tree, latent),
      encodeMoments: (tree: Record<string, tf.Tensor>, input: tf.Tensor4D) => encodeMoments(config, tree, input),
    };
    expect(await vaeGradientCheck(model, params, x, z)).toEqual({ problems: [], stepGrowth: 0, forwardGrowth: 0 });
    expect(Object.keys(params).length).toBe(unetSpecs(config).length);
    tf.dispose([x, z, ...Object.values(params)]);
  });

  it('clamps log σ² to [−30, 20] by default and returns the raw values on request', async () => {
    const config = fixtureConfig();
    const params = init(config, 3);
    // Push the log-variance channels' bias far above 20.
    const bias = params['encoder.conv_out.bias']!;
    const shifted = { ...params, 'encoder.conv_out.bias': tf.add(bias, tf.tensor1d([0, 0, 0, 0, 60, 60, 60, 60])) };
    const x = randomImages([1, 8, 8, 3], 9);
    const clamped = encode(config, shifted, x);
    const raw = encode(config, shifted, x, { clampLogVar: false });
    const clampedData = (await clamped.logVar.data()) as Float32Array;
    const rawData = (await raw.logVar.data()) as Float32Array;
    expect(rawData.every((v) => v > 20)).toBe(true);
    expect(clampedData.every((v) => v === 20)).toBe(true);
    expect(await clamped.mu.data()).toEqual(await raw.mu.data());
    tf.dispose([x, clamped.mu, clamped.logVar, raw.mu, raw.logVar, shifted['encoder.conv_out.bias']!, ...Object.values(params)]);
  });

  it('rejects wrong channels, sizes not divisible by the downsampling factor and bad configs with typed errors', async () => {
    const config = fixtureConfig();
    const params = init(config, 1);
    const wrongChannels = tf.zeros([1, 16, 16, 4]) as tf.Tensor4D;
    const oddSize = tf.zeros([1, 15, 16, 3]) as tf.Tensor4D;
    const badLatent = tf.zeros([1, 8, 8, 3]) as tf.Tensor4D;
    await expectError(() => encode(config, params, wrongChannels), 'bad-input', 'encode', '[B,H,W,3]', '[1,16,16,4]');
    await expectError(() => encode(config, params, oddSize), 'bad-input', 'downsampling factor 2', '[1,15,16,3]');
    await expectError(() => decode(config, params, badLatent), 'bad-input', 'decode', '[1,8,8,3]');
    await expectError(() => init({ ...config, ch: 48 }, 1), 'bad-config', 'numGroups=32');
    const missing = { ...params };
    delete missing['encoder.conv_in.weight'];
    await expectError(() => encode(config, missing, tf.zeros([1, 16, 16, 3]) as tf.Tensor4D), 'bad-params', 'encoder.conv_in.weight missing');
    tf.dispose([wrongChannels, oddSize, badLatent, ...Object.values(params)]);
  });

  it('importWeights lists missing, unexpected and mis-shaped keys', async () => {
    const config = fixtureConfig();
    const weights = new Map(parseSafetensors(readFixtureBytes('unet-tiny', 'model.safetensors')).tensors);
    weights.delete('decoder.conv_out.bias');
    weights.set('encoder.extra.weight', { dtype: 'F32', shape: [1], data: new Float32Array(1) });
    weights.set('encoder.conv_in.bias', { dtype: 'F32', shape: [16], data: new Float32Array(16) });
    await expectError(
      () => importWeights(config, weights),
      'bad-weights',
      'importWeights',
      '1 missing: decoder.conv_out.bias',
      '1 unexpected: encoder.extra.weight',
      'encoder.conv_in.bias (shape [16], expected [32])',
    );
    const before = tf.memory().numTensors;
    expect(() => importWeights(config, new Map())).toThrow(/130 missing/);
    expect(tf.memory().numTensors).toBe(before);
  });
});
