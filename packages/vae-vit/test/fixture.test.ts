import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import {
  maxAbsDiff,
  nchwData,
  nhwcFromNchw,
  readFixtureBytes,
  readVaeFixture,
  safetensorsDifferences,
  setupBackend,
  splitMomentsError,
  treeDifferences,
} from '@gq/test-utils';
import { parseSafetensors } from '@gq/safetensors';
import { CheckpointError } from '@gq/checkpoint';
import { registerTrainingKernels, useBackend } from '@gq/runtime';
import { trainingKernelStatus } from '@gq/runtime/internal';
import {
  decode,
  encode,
  encodeMoments,
  exportWeights,
  importCheckpoint,
  importWeights,
  parameterCount,
  vitConfigFromReference,
  vitSpecs,
  type VitConfig,
} from '@gq/vae-vit';

/*
 * The vit-tiny fixture comes from the reference PyTorch code; *_f64 are the same modules run in
 * float64. The README asks float32 CPU/WASM re-implementations for atol 1e-4 (PyTorch's own
 * float32 run is within 8.2e-7; tfjs's erf approximation adds ≤ 1.5e-7 per GELU).
 */
const tolerance = 1e-4;

describe('vit-tiny fixture', () => {
  let config: VitConfig;
  let params: Record<string, tf.Tensor>;
  const fixture = readVaeFixture('vit-tiny', parseSafetensors);
  const { io, modelBytes } = fixture;

  beforeAll(async () => {
    await setupBackend('cpu');
    // The decoder's dict carries dim_ffn_output (256 here); the encoder ignores it.
    config = vitConfigFromReference(fixture.decoderParams);
    params = importWeights(config, modelBytes);
  });

  it('has the reference parameter counts and state_dict keys, shapes and order', () => {
    expect(parameterCount(config)).toEqual(fixture.parameterCount);
    expect(vitSpecs(config).map((s) => [s.name, [...s.torchShape]])).toEqual(fixture.keys);
  });

  it('reproduces the encoder moments within 1e-4 of the float64 reference', async () => {
    const x = io.get('x')!;
    const input = nhwcFromNchw(x.data as Float32Array, x.shape);
    const moments = encodeMoments(config, params, input);
    expect(moments.shape).toEqual([2, 64, 8]);
    const expected = io.get('moments_f64')!.data as Float64Array;
    expect(maxAbsDiff((await moments.data()) as Float32Array, expected)).toBeLessThan(tolerance);

    const { mu, logVar } = encode(config, params, input, { clampLogVar: false });
    const worst = splitMomentsError(await mu.data(), await logVar.data(), expected, { outer: 2 * 64, channels: 4, inner: 1 });
    expect(worst).toBeLessThan(tolerance);
    tf.dispose([input, moments, mu, logVar]);
  });

  it('reproduces the decoder output within 1e-4 of the float64 reference', async () => {
    const z = io.get('z')!;
    const latent = tf.tensor3d(z.data as Float32Array, z.shape as [number, number, number]);
    const out = decode(config, params, latent);
    expect(out.shape).toEqual([2, 32, 32, 3]);
    const got = await nchwData(out);
    expect(maxAbsDiff(got, io.get('dec_f64')!.data as Float64Array)).toBeLessThan(tolerance);
    tf.dispose([latent, out]);
  });

  it('exports the imported weights bit-exactly, in state_dict order', async () => {
    const bytes = await exportWeights(config, params);
    expect(safetensorsDifferences(bytes, modelBytes, parseSafetensors)).toEqual({ keys: fixture.keys.map(([name]) => name), mismatched: [] });
  });

  it('loads the Lightning-style model.ckpt to the same weights as model.safetensors', async () => {
    const fromCheckpoint = importCheckpoint(config, readFixtureBytes('vit-tiny', 'model.ckpt'));
    expect(await treeDifferences(fromCheckpoint, params)).toEqual([]);
    const x = io.get('x')!;
    const input = nhwcFromNchw(x.data as Float32Array, x.shape);
    const moments = encodeMoments(config, fromCheckpoint, input);
    expect(maxAbsDiff((await moments.data()) as Float32Array, io.get('moments_f64')!.data as Float64Array)).toBeLessThan(tolerance);
    tf.dispose([input, moments, ...Object.values(fromCheckpoint)]);
  });

  it('passes checkpoint reader errors through typed, creating no tensors', () => {
    const bytes = readFixtureBytes('vit-tiny', 'model.ckpt');
    const before = tf.memory().numTensors;
    expect(() => importCheckpoint(config, bytes.slice(0, bytes.length >> 1))).toThrow(CheckpointError);
    expect(() => importCheckpoint(config, new Uint8Array(64))).toThrow(CheckpointError);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('on wasm with the fused LayerNorm kernel still matches the float64 reference within 1e-4', async () => {
    await useBackend('wasm');
    try {
      registerTrainingKernels();
      const before = trainingKernelStatus().GqNorm.fastCalls;
      const x = io.get('x')!;
      const input = nhwcFromNchw(x.data as Float32Array, x.shape);
      const moments = encodeMoments(config, params, input);
      expect(maxAbsDiff((await moments.data()) as Float32Array, io.get('moments_f64')!.data as Float64Array)).toBeLessThan(tolerance);
      const z = io.get('z')!;
      const latent = tf.tensor3d(z.data as Float32Array, z.shape as [number, number, number]);
      const out = decode(config, params, latent);
      expect(maxAbsDiff(await nchwData(out), io.get('dec_f64')!.data as Float64Array)).toBeLessThan(tolerance);
      expect(trainingKernelStatus().GqNorm.fastCalls).toBeGreaterThan(before);
      tf.dispose([input, moments, latent, out]);
    } finally {
      await tf.setBackend('cpu');
    }
  });
});
