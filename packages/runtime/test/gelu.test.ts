import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { ensureGradients, registerTrainingKernels, useBackend } from '@gq/runtime';
import { trainingKernelStatus } from '@gq/runtime/internal';
import { gelu } from '@gq/nn';
import { geluGradKernelName, geluKernelName } from '@gq/nn/internal';
import { normalCdf } from '@gq/test-utils';
import { normals, on } from './helpers/numeric.js';

/*
 * The fused GELU kernels on wasm (src/kernels/gelu.ts: a SIMD loop over groups of four values, the
 * last 1–3 in float64) against a float64 oracle of the float32 inputs, and against @gq/nn's
 * tfjs-op composition x·(1 + erf(x/√2))/2 on cpu.
 *
 * The oracle's Φ (@gq/test-utils' normalCdf) is independent of the kernel's erfc fit: 1 − erf by
 * its Taylor series for z = |x|/√2 < 2, erfc by its continued fraction above. Error budget of the kernel,
 * relative to the exact value: the fit's 1.2e-7, float32 rounding of z² inside e^{−z²} (a relative
 * error of about z²·6e-8 in the lower tail, where Φ is that exponential) and a few float32 ulps
 * elsewhere, so the bound is 4e-7·(1 + x²) relative (plus 1e-30 absolute where Φ underflows past
 * e^{−80}); measured on these inputs: 0.80 of that bound forward, 0.72 for the gradient, and
 * ≤ 7e-6 relative at x = −9. The composite's 1 + erf cancels below x ≈ −3 and its erf is itself an approximation,
 * so it is compared in absolute terms only.
 */

const density = (x: number): number => Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI);

/**
 * Largest |actual − exact| / (4e-7·(1 + x²)·scale + 1e-30) over the values: ≤ 1 passes. `scale` is
 * |exact| for the forward and |dy|·(Φ + |x|φ) for the gradient, whose two terms cancel near its
 * zero at x ≈ −0.7518 (there an error of a few ulps of Φ is all float32 can give).
 */
function worstRatio(actual: ArrayLike<number>, exact: ArrayLike<number>, xs: ArrayLike<number>, scale: ArrayLike<number> = Float64Array.from(exact, Math.abs)): number {
  let worst = 0;
  for (let i = 0; i < xs.length; i++) {
    const x = xs[i]!;
    const r = Math.abs(actual[i]! - exact[i]!) / (4e-7 * (1 + x * x) * scale[i]! + 1e-30);
    if (!(r <= worst)) worst = Number.isNaN(r) ? Number.POSITIVE_INFINITY : r;
  }
  return worst;
}

/** N(0, 3²) values and the edges: zeros, the tails, around the gradient's zero (x ≈ −0.7518), tiny values. */
function inputs(seed: number, size: number): Float32Array {
  const xs = normals(seed, size, 0, 3);
  const edges = [0, -0, -12, -9, -6, -3.5, -2.9, -0.7518, -1e-6, 1e-6, 0.7518, 2.9, 3.5, 6, 9, 12];
  edges.forEach((v, i) => (xs[(i * 37) % size] = v));
  return xs;
}

beforeAll(async () => {
  await useBackend('cpu');
  await useBackend('wasm');
  await ensureGradients();
  registerTrainingKernels();
  expect(tf.getKernel(geluKernelName, 'wasm')).toBeDefined();
});

describe('fused GELU on wasm', () => {
  // 4099 values: 1024 groups of four through the SIMD loop and a tail of three.
  for (const size of [4099, 4096, 3]) {
    it(`forward and gradient match a float64 oracle within 4e-7·(1 + x²) relative (${size} values)`, async () => {
      const xs = inputs(size, size);
      const dys = normals(size + 1, size);
      const before = trainingKernelStatus();
      const [y, dx] = await on('wasm', () => {
        const x = tf.tensor1d(xs);
        const dy = tf.tensor1d(dys);
        return [gelu(x), tf.grad((t: tf.Tensor) => tf.sum(tf.mul(gelu(t), dy)))(x)];
      });
      const after = trainingKernelStatus();
      expect(after[geluKernelName].fastCalls).toBeGreaterThan(before[geluKernelName].fastCalls);
      expect(after[geluGradKernelName].fastCalls).toBeGreaterThan(before[geluGradKernelName].fastCalls);
      const yExact = Float64Array.from(xs, (x) => x * normalCdf(x));
      const dxExact = Float64Array.from(xs, (x, i) => dys[i]! * (normalCdf(x) + x * density(x)));
      expect(worstRatio(y!, yExact, xs)).toBeLessThanOrEqual(1);
      const dxScale = Float64Array.from(xs, (x, i) => Math.abs(dys[i]!) * (normalCdf(x) + Math.abs(x) * density(x)));
      expect(worstRatio(dx!, dxExact, xs, dxScale)).toBeLessThanOrEqual(1);
    });
  }

  it('keeps the lower tail that the composed 1 + erf(x/√2) loses', async () => {
    const xs = Float32Array.of(-4, -5, -6, -8);
    const [y] = await on('wasm', () => gelu(tf.tensor1d(xs)));
    // Φ(−8) ≈ 6.2e-16: far below float32's ulp(1) = 1.2e-7, where 1 + erf has nothing left.
    for (let i = 0; i < xs.length; i++) {
      const exact = xs[i]! * normalCdf(xs[i]!);
      expect(Math.abs(y![i]! - exact) / Math.abs(exact)).toBeLessThan(1e-5);
    }
  });

  it('agrees with the tfjs-op composition on cpu, forward and gradient', async () => {
    const xs = inputs(7, 1030);
    const dys = normals(8, 1030);
    const run = () => {
      const x = tf.tensor2d(xs, [10, 103]);
      const dy = tf.tensor2d(dys, [10, 103]);
      return [gelu(x), tf.grad((t: tf.Tensor) => tf.sum(tf.mul(gelu(t), dy)))(x)];
    };
    const [yCpu, dxCpu] = await on('cpu', run);
    const [yWasm, dxWasm] = await on('wasm', run);
    for (let i = 0; i < xs.length; i++) {
      expect(Math.abs(yWasm![i]! - yCpu![i]!)).toBeLessThanOrEqual(1e-6 * (1 + Math.abs(xs[i]!)));
      expect(Math.abs(dxWasm![i]! - dxCpu![i]!)).toBeLessThanOrEqual(1e-6 * (1 + Math.abs(xs[i]!)) * (1 + Math.abs(dys[i]!)));
    }
  });

  it('passes NaN through and maps ±∞ as x·Φ(x) does', async () => {
    const [y] = await on('wasm', () => gelu(tf.tensor1d([Number.NaN, Number.POSITIVE_INFINITY, 1, 2])));
    expect(Number.isNaN(y![0]!)).toBe(true);
    expect(y![1]).toBe(Number.POSITIVE_INFINITY);
  });
});
