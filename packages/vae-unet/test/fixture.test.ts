import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { maxAbsDiff, readFixtureBytes, readFixtureJson, readFixtureTensors, setupBackend } from '@gq/test-utils';
import { parseSafetensors } from '@gq/safetensors';
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

interface FixtureConfig {
  encoder: { params: Record<string, unknown> };
  n_params_encoder: number;
  n_params_decoder: number;
}

/** Number of positions where two arrays differ (vitest's deep equality is slow on large arrays). */
function bitDifferences(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Math.max(a.length, b.length);
  let count = 0;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) count++;
  return count;
}

/** NCHW float data → NHWC tensor. */
function nhwc(data: ArrayLike<number>, shape: readonly number[]): tf.Tensor4D {
  return tf.tidy(() => tf.transpose(tf.tensor4d(Float32Array.from(data), shape as [number, number, number, number]), [0, 2, 3, 1]));
}

async function asNchw(t: tf.Tensor4D): Promise<Float32Array> {
  const transposed = tf.transpose(t, [0, 3, 1, 2]);
  const data = (await transposed.data()) as Float32Array;
  transposed.dispose();
  return data;
}

describe('unet-tiny fixture', () => {
  let config: UnetConfig;
  let fixture: FixtureConfig;
  let params: Record<string, tf.Tensor>;
  const io = readFixtureTensors('unet-tiny', 'io.safetensors');
  const modelBytes = readFixtureBytes('unet-tiny', 'model.safetensors');

  beforeAll(async () => {
    await setupBackend('cpu');
    fixture = readFixtureJson<FixtureConfig>('unet-tiny', 'config.json');
    config = unetConfigFromReference(fixture.encoder.params);
    params = importWeights(config, modelBytes);
  });

  it('has the reference parameter counts and state_dict keys, shapes and order', () => {
    expect(parameterCount(config)).toEqual({
      encoder: fixture.n_params_encoder,
      decoder: fixture.n_params_decoder,
      total: fixture.n_params_encoder + fixture.n_params_decoder,
    });
    const keys = readFixtureJson<{ keys: [string, number[]][] }>('unet-tiny', 'keys.json').keys;
    expect(unetSpecs(config).map((s) => [s.name, [...s.torchShape]])).toEqual(keys);
  });

  it('reproduces the encoder moments (μ and raw log σ²) within 1e-4 of the float64 reference', async () => {
    const x = io.get('x')!;
    const input = nhwc(x.data as Float32Array, x.shape);
    const moments = encodeMoments(config, params, input);
    expect(moments.shape).toEqual([2, 16, 16, 8]);
    const expected = io.get('moments_f64')!;
    const got = await asNchw(moments);
    expect(maxAbsDiff(got, expected.data as Float64Array)).toBeLessThan(tolerance);

    // encode() splits channels 0..3 → μ and 4..7 → log σ²; values lie well inside [−30, 20], so clamping is a no-op.
    const { mu, logVar } = encode(config, params, input);
    const muData = await asNchw(mu);
    const logVarData = await asNchw(logVar);
    const reference = expected.data as Float64Array;
    const plane = 16 * 16;
    let worst = 0;
    for (let b = 0; b < 2; b++) {
      for (let c = 0; c < 4; c++) {
        for (let i = 0; i < plane; i++) {
          worst = Math.max(worst, Math.abs(muData[(b * 4 + c) * plane + i]! - reference[(b * 8 + c) * plane + i]!));
          worst = Math.max(worst, Math.abs(logVarData[(b * 4 + c) * plane + i]! - reference[(b * 8 + 4 + c) * plane + i]!));
        }
      }
    }
    expect(worst).toBeLessThan(tolerance);
    tf.dispose([input, moments, mu, logVar]);
  });

  it('reproduces the decoder output within 1e-4 of the float64 reference', async () => {
    const z = io.get('z')!;
    const latent = nhwc(z.data as Float32Array, z.shape);
    const out = decode(config, params, latent);
    expect(out.shape).toEqual([2, 32, 32, 3]);
    const got = await asNchw(out);
    expect(maxAbsDiff(got, io.get('dec_f64')!.data as Float64Array)).toBeLessThan(tolerance);
    // Also against PyTorch's float32 output: same bound (README: either serves at 1e-4).
    expect(maxAbsDiff(got, io.get('dec')!.data as Float32Array)).toBeLessThan(tolerance);
    tf.dispose([latent, out]);
  });

  it('exports the imported weights bit-exactly, in state_dict order', async () => {
    const bytes = await exportWeights(config, params);
    const original = parseSafetensors(modelBytes).tensors;
    const exported = parseSafetensors(bytes).tensors;
    // The fixture file lists keys alphabetically (Python safetensors sorts them); ours follow state_dict order.
    const keys = readFixtureJson<{ keys: [string, number[]][] }>('unet-tiny', 'keys.json').keys.map(([name]) => name);
    expect([...exported.keys()]).toEqual(keys);
    expect(exported.size).toBe(original.size);
    let differences = 0;
    for (const [name, entry] of original) {
      const round = exported.get(name)!;
      expect(round.dtype).toBe('F32');
      expect(round.shape).toEqual(entry.shape);
      differences += bitDifferences(new Uint32Array((round.data as Float32Array).buffer), new Uint32Array((entry.data as Float32Array).buffer));
    }
    expect(differences).toBe(0);
    // And a second import of the export gives identical tensors.
    const again = importWeights(config, bytes);
    for (const name of Object.keys(params)) {
      expect(bitDifferences((await again[name]!.data()) as Float32Array, (await params[name]!.data()) as Float32Array), name).toBe(0);
    }
    tf.dispose(Object.values(again));
  });
});
