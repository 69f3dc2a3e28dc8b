import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { parseSafetensors } from '@gq/safetensors';
import { readFixtureJson, readFixtureTensors, setupBackend } from '@gq/test-utils';
import { createTdc, klBits } from '@gq/tdc';

interface Step {
  kl_loss: number;
  bits_mean: number;
  bits_min: number;
  bits_max: number;
  lam: number;
  lam_min: number;
  lam_max: number;
  lam_before: number;
  lam_min_before: number;
  lam_max_before: number;
  n_units_above: number;
  n_units_band: number;
  n_units_below: number;
}

const REFERENCE_BITS_PER_NAT = 1.4426;

/** |a − b| ≤ rtol·|b| + atol */
function expectClose(actual: number, expected: number, rtol: number, atol = 0): void {
  expect(Math.abs(actual - expected)).toBeLessThanOrEqual(rtol * Math.abs(expected) + atol);
}

describe('tdc-trajectory fixture (reference GaussianQuantRegularizer, 50 training steps)', () => {
  const json = readFixtureJson<{ target_bits_T: number; steps: Step[] }>('tdc-trajectory', 'trajectory.json');
  const tensors = readFixtureTensors(parseSafetensors, 'tdc-trajectory', 'trajectory.safetensors');
  const mu = tensors.get('mu')!;
  const logVar = tensors.get('logvar')!;
  const klF64 = tensors.get('kl_bits_f64')!;
  const [steps, b, l, c] = mu.shape as [number, number, number, number];
  const stepSize = b * l * c;

  beforeAll(async () => {
    await setupBackend('cpu');
  });

  it('has the documented shapes', () => {
    expect(mu.shape).toEqual([50, 2, 16, 8]);
    expect(klF64.shape).toEqual([50, 2, 16, 2]);
    expect(json.steps).toHaveLength(50);
  });

  it('klBits (strided, group 4) matches the float64 per-unit rates', async () => {
    for (const s of [0, 40]) {
      const m = tf.tensor(mu.data.slice(s * stepSize, (s + 1) * stepSize) as Float32Array, [b, l, c]);
      const v = tf.tensor(logVar.data.slice(s * stepSize, (s + 1) * stepSize) as Float32Array, [b, l, c]);
      const bits = klBits(m, v, { group: 4, bitsPerNat: REFERENCE_BITS_PER_NAT });
      expect(bits.shape).toEqual([b, l, 2]);
      const got = await bits.data();
      const want = (klF64.data as Float64Array).subarray(s * b * l * 2, (s + 1) * b * l * 2);
      // float32 sum of 4 terms of size ≤ ~10 bits: a few ulps of 10 (≈ 1e-6) plus the module's ~1e-6 rel.
      for (let i = 0; i < want.length; i++) expectClose(got[i]!, want[i]!, 1e-5, 1e-5);
      tf.dispose([m, v, bits]);
    }
  });

  it('reproduces λ, λ_min, λ_max, loss and bits statistics step by step', async () => {
    const tdc = createTdc({ targetBits: json.target_bits_T, group: 4, weight: 1, bitsPerNat: REFERENCE_BITS_PER_NAT });
    for (let s = 0; s < steps; s++) {
      const want = json.steps[s]!;
      const before = tdc.state;
      // λ's are float64 ×/÷ 1.01 with identical branch decisions: bit-exact.
      expect([before.lambda, before.lambdaMin, before.lambdaMax]).toEqual([want.lam_before, want.lam_min_before, want.lam_max_before]);
      const m = tf.tensor(mu.data.slice(s * stepSize, (s + 1) * stepSize) as Float32Array, [b, l, c]);
      const v = tf.tensor(logVar.data.slice(s * stepSize, (s + 1) * stepSize) as Float32Array, [b, l, c]);
      const { loss, stats } = tdc.loss(m, v);
      const lossValue = (await loss.data())[0]!;
      const read = await stats.read();
      expectClose(lossValue, want.kl_loss, 1e-5);
      expect(read.loss).toBe(lossValue);
      expectClose(read.mean, want.bits_mean, 1e-5, 1e-5);
      expectClose(read.min, want.bits_min, 1e-5, 1e-5);
      expectClose(read.max, want.bits_max, 1e-5, 1e-5);
      expect([read.above, read.inBand, read.below]).toEqual([want.n_units_above, want.n_units_band, want.n_units_below]);
      expect(read.count).toBe(64);
      const after = tdc.update(read);
      expect([after.lambda, after.lambdaMin, after.lambdaMax]).toEqual([want.lam, want.lam_min, want.lam_max]);
      tf.dispose([m, v, loss]);
    }
    expect(tdc.state.updates).toBe(50);
  });
});
