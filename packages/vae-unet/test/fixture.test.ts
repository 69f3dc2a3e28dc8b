import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import {
  maxAbsDiff,
  nchwData,
  nhwcFromNchw,
  readVaeFixture,
  safetensorsDifferences,
  setupBackend,
  splitMomentsError,
  treeDifferences,
} from '@gq/test-utils';
import { parseSafetensors } from '@gq/safetensors';
import { registerTrainingKernels, useBackend } from '@gq/runtime';
import { trainingKernelStatus } from '@gq/runtime/internal';
import {
  decode,
  encode,
  encodeMoments,
  exportWeights,
  importWeights,
  parameterCount,
  unetConfigFromReference,
  unetSpecs,
  type UnetConfig,
} from '@gq/vae-unet';

/*
 * The unet-tiny fixture was produced by the reference PyTorch code; the *_f64 outputs are the same
 * modules run in float64. Our float32 forward accumulates rounding over ~15 convolutions of ≤ 576
 * terms and GroupNorms; the fixture README bounds PyTorch's own float32 error at 1.7e-6 and asks
 * for ≤ 1e-4 from a float32 re-implementation.
 */
const tolerance = 1e-4;

describe('unet-tiny fixture', () => {
  let config: UnetConfig;
  let params: Record<string, tf.Tensor>;
  const fixture = readVaeFixture('unet-tiny', parseSafetensors);
  const { io, modelBytes } = fixture;

  beforeAll(async () => {
    await setupBackend('cpu');
    config = unetConfigFromReference(fixture.encoderParams);
    params = importWeights(config, modelBytes);
  });

  it('has the reference parameter counts and state_dict keys, shapes and order', () => {
    expect(parameterCount(config)).toEqual(fixture.parameterCount);
    expect(unetSpecs(config).map((s) => [s.name, [...s.torchShape]])).toEqual(fixture.keys);
  });

  it('reproduces the encoder moments (μ and raw log σ²) within 1e-4 of the float64 reference', async () => {
    const x = io.get('x')!;
    const input = nhwcFromNchw(x.data as Float32Array, x.shape);
    const moments = encodeMoments(config, params, input);
    expect(moments.shape).toEqual([2, 16, 16, 8]);
    const expected = io.get('moments_f64')!;
    const got = await nchwData(moments);
    expect(maxAbsDiff(got, expected.data as Float64Array)).toBeLessThan(tolerance);

    // encode() splits channels 0..3 → μ and 4..7 → log σ²; values lie well inside [−30, 20], so clamping is a no-op.
    const { mu, logVar } = encode(config, params, input);
    const worst = splitMomentsError(await nchwData(mu), await nchwData(logVar), expected.data as Float64Array, { outer: 2, channels: 4, inner: 16 * 16 });
    expect(worst).toBeLessThan(tolerance);
    tf.dispose([input, moments, mu, logVar]);
  });

  it('reproduces the decoder output within 1e-4 of the float64 reference', async () => {
    const z = io.get('z')!;
    const latent = nhwcFromNchw(z.data as Float32Array, z.shape);
    const out = decode(config, params, latent);
    expect(out.shape).toEqual([2, 32, 32, 3]);
    const got = await nchwData(out);
    expect(maxAbsDiff(got, io.get('dec_f64')!.data as Float64Array)).toBeLessThan(tolerance);
    // Also against PyTorch's float32 output: same bound (README: either serves at 1e-4).
    expect(maxAbsDiff(got, io.get('dec')!.data as Float32Array)).toBeLessThan(tolerance);
    tf.dispose([latent, out]);
  });

  it('exports the imported weights bit-exactly, in state_dict order', async () => {
    const bytes = await exportWeights(config, params);
    // The fixture file lists keys alphabetically (Python safetensors sorts them); ours follow state_dict order.
    expect(safetensorsDifferences(bytes, modelBytes, parseSafetensors)).toEqual({ keys: fixture.keys.map(([name]) => name), mismatched: [] });
    // And a second import of the export gives identical tensors.
    const again = importWeights(config, bytes);
    expect(await treeDifferences(again, params)).toEqual([]);
    tf.dispose(Object.values(again));
  });

  it('on wasm with the fused kernels (GroupNorm + SiLU, upsampling) still matches the float64 reference within 1e-4', async () => {
    await useBackend('wasm');
    try {
      registerTrainingKernels();
      const fusedCalls = (): number => trainingKernelStatus().GqNorm.fastCalls + trainingKernelStatus().GqUpsampleNearest2x.fastCalls;
      const before = fusedCalls();
      const x = io.get('x')!;
      const input = nhwcFromNchw(x.data as Float32Array, x.shape);
      const moments = encodeMoments(config, params, input);
      expect(maxAbsDiff(await nchwData(moments), io.get('moments_f64')!.data as Float64Array)).toBeLessThan(tolerance);
      const z = io.get('z')!;
      const latent = nhwcFromNchw(z.data as Float32Array, z.shape);
      const out = decode(config, params, latent);
      expect(maxAbsDiff(await nchwData(out), io.get('dec_f64')!.data as Float64Array)).toBeLessThan(tolerance);
      expect(fusedCalls()).toBeGreaterThan(before);
      tf.dispose([input, moments, latent, out]);
    } finally {
      await tf.setBackend('cpu');
    }
  });
});
