import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { maxAbsDiff, seededNormal, setupBackend, tensorGrowth } from '@gq/test-utils';
import { NnError, attention, conv2d, gelu, groupNorm, layerNorm, linear, silu, upsampleNearest2x } from '@gq/nn';

/*
 * Float64 oracles written out as loops. Tolerances: float32 sums of ≤ 100 products of O(1) values
 * carry ≲ 100·2^−24·|terms| ≈ 1e-5 relative error, so atol 1e-5 on O(1) outputs; normalisations
 * divide by a standard deviation ≥ 0.5 here.
 */

function normals(n: number, seed: number): Float64Array {
  const next = seededNormal(seed);
  return Float64Array.from({ length: n }, () => next());
}

/** Round to float32 so the oracle and tfjs see the same inputs. */
function f32(values: Float64Array): Float64Array {
  return Float64Array.from(Float32Array.from(values));
}

/** PyTorch conv2d on NHWC data with HWIO weights, zero padding [top, bottom, left, right]. */
function convOracle(
  x: Float64Array, [b, h, w, ci]: number[], wt: Float64Array, [kh, kw, , co]: number[], bias: Float64Array | undefined,
  stride: number, [top, bottom, left, right]: number[],
): { data: Float64Array; shape: number[] } {
  const ho = Math.floor((h + top + bottom - kh) / stride) + 1;
  const wo = Math.floor((w + left + right - kw) / stride) + 1;
  const out = new Float64Array(b * ho * wo * co);
  for (let n = 0; n < b; n++) for (let y = 0; y < ho; y++) for (let xx = 0; xx < wo; xx++) for (let o = 0; o < co; o++) {
    let sum = bias === undefined ? 0 : bias[o]!;
    for (let dy = 0; dy < kh; dy++) for (let dx = 0; dx < kw; dx++) {
      const iy = y * stride + dy - top;
      const ix = xx * stride + dx - left;
      if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
      for (let c = 0; c < ci; c++) sum += x[((n * h + iy) * w + ix) * ci + c]! * wt[((dy * kw + dx) * ci + c) * co + o]!;
    }
    out[((n * ho + y) * wo + xx) * co + o] = sum;
  }
  return { data: out, shape: [b, ho, wo, co] };
}

/** erf by its Maclaurin series; for |x| ≤ 4 the cancellation costs < 6 digits of double precision. */
function erf64(x: number): number {
  let term = x;
  let sum = x;
  for (let n = 1; n < 200; n++) {
    term *= (-x * x) / n;
    const add = term / (2 * n + 1);
    sum += add;
    if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}

describe('@gq/nn layers', () => {
  beforeAll(async () => {
    await setupBackend('cpu');
  });

  it('conv2d matches a float64 oracle for symmetric, asymmetric stride-2 and wide padding', async () => {
    const xShape = [2, 7, 6, 3];
    const x = f32(normals(2 * 7 * 6 * 3, 1));
    const cases: { k: number; co: number; stride: number; padding: number | [[number, number], [number, number]]; pads: number[]; bias: boolean }[] = [
      { k: 3, co: 4, stride: 1, padding: 1, pads: [1, 1, 1, 1], bias: true },
      { k: 3, co: 4, stride: 2, padding: [[0, 1], [0, 1]], pads: [0, 1, 0, 1], bias: true },
      { k: 3, co: 2, stride: 1, padding: 2, pads: [2, 2, 2, 2], bias: false },
      { k: 1, co: 5, stride: 1, padding: 0, pads: [0, 0, 0, 0], bias: true },
    ];
    for (const { k, co, stride, padding, pads, bias } of cases) {
      const wShape = [k, k, 3, co];
      const w = f32(normals(k * k * 3 * co, 2 + k));
      const b = bias ? f32(normals(co, 9)) : undefined;
      const expected = convOracle(x, xShape, w, wShape, b, stride, pads);
      const out = tf.tidy(() =>
        conv2d(tf.tensor4d(Float32Array.from(x), xShape as [number, number, number, number]), tf.tensor4d(Float32Array.from(w), wShape as [number, number, number, number]),
          b === undefined ? undefined : tf.tensor1d(Float32Array.from(b)), { stride, padding }),
      );
      expect(out.shape).toEqual(expected.shape);
      expect(maxAbsDiff((await out.data()) as Float32Array, expected.data)).toBeLessThan(1e-5);
      out.dispose();
    }
    // The stride-2 right/bottom pad of an even side equals TF "same": 8×8 → 4×4.
    const even = tf.tidy(() => conv2d(tf.ones([1, 8, 8, 1]), tf.ones([3, 3, 1, 1]), undefined, { stride: 2, padding: [[0, 1], [0, 1]] }));
    expect(even.shape).toEqual([1, 4, 4, 1]);
    // Bottom-right output sees 2×2 real pixels plus padding zeros.
    expect(((await even.data()) as Float32Array)[15]).toBe(4);
    even.dispose();
  });

  it('groupNorm and layerNorm match float64 oracles (biased variance, eps inside the root)', async () => {
    const [b, h, w, c, groups, eps] = [2, 3, 4, 6, 3, 1e-6];
    const x = f32(normals(b * h * w * c, 3).map((v, i) => 2 * v + (i % c)));
    const gamma = f32(normals(c, 4));
    const beta = f32(normals(c, 5));
    const expected = new Float64Array(x.length);
    const per = c / groups;
    for (let n = 0; n < b; n++) for (let g = 0; g < groups; g++) {
      const idx: number[] = [];
      for (let p = 0; p < h * w; p++) for (let j = 0; j < per; j++) idx.push((n * h * w + p) * c + g * per + j);
      const mean = idx.reduce((s, i) => s + x[i]!, 0) / idx.length;
      const variance = idx.reduce((s, i) => s + (x[i]! - mean) ** 2, 0) / idx.length;
      for (const i of idx) expected[i] = ((x[i]! - mean) / Math.sqrt(variance + eps)) * gamma[i % c]! + beta[i % c]!;
    }
    const out = tf.tidy(() => groupNorm(tf.tensor4d(Float32Array.from(x), [b, h, w, c]), tf.tensor1d(Float32Array.from(gamma)), tf.tensor1d(Float32Array.from(beta)), groups, eps));
    expect(maxAbsDiff((await out.data()) as Float32Array, expected)).toBeLessThan(1e-5);
    out.dispose();

    const rows = b * h * w;
    const expectedLn = new Float64Array(x.length);
    for (let r = 0; r < rows; r++) {
      const row = Array.from(x.subarray(r * c, (r + 1) * c));
      const mean = row.reduce((s, v) => s + v, 0) / c;
      const variance = row.reduce((s, v) => s + (v - mean) ** 2, 0) / c;
      row.forEach((v, j) => (expectedLn[r * c + j] = ((v - mean) / Math.sqrt(variance + 1e-5)) * gamma[j]! + beta[j]!));
    }
    const ln = tf.tidy(() => layerNorm(tf.tensor3d(Float32Array.from(x), [b, h * w, c]), tf.tensor1d(Float32Array.from(gamma)), tf.tensor1d(Float32Array.from(beta)), 1e-5));
    expect(maxAbsDiff((await ln.data()) as Float32Array, expectedLn)).toBeLessThan(1e-5);
    ln.dispose();
  });

  it('hand-written gradients of groupNorm, layerNorm and silu equal float64 central differences', async () => {
    const [b, h, w, c, groups] = [2, 3, 2, 4, 2];
    const x = Array.from({ length: b * h * w * c }, (_, i) => Math.sin(1.7 * i) + 0.3 * Math.cos(0.4 * i * i));
    const gamma = [0.5, -1.2, 2, 0.7];
    const beta = [0.1, 0, -0.3, 0.2];
    const probe = x.map((_, i) => Math.cos(0.9 * i));
    // Scalar objective Σ probe·f(x); its gradient is checked entry by entry in float64 below.
    const objective = (f: (t: tf.Tensor) => tf.Tensor) => (t: tf.Tensor) => tf.sum(tf.mul(f(t), tf.tensor(probe, t.shape)));
    const cases: [string, (t: tf.Tensor) => tf.Tensor, (v: number[]) => number[]][] = [
      ['groupNorm', (t) => groupNorm(t as tf.Tensor4D, tf.tensor1d(gamma), tf.tensor1d(beta), groups, 1e-6), (v) => groupNorm64(v, [b, h, w, c], gamma, beta, groups, 1e-6)],
      ['layerNorm', (t) => layerNorm(t, tf.tensor1d(gamma), tf.tensor1d(beta), 1e-5), (v) => layerNorm64(v, c, gamma, beta, 1e-5)],
      ['silu', (t) => silu(t), (v) => v.map((u) => u / (1 + Math.exp(-u)))],
    ];
    for (const [name, f, f64] of cases) {
      const grad = tf.tidy(() => tf.grad(objective(f))(tf.tensor4d(x, [b, h, w, c])));
      const got = await grad.data();
      grad.dispose();
      const step = 1e-6;
      for (let i = 0; i < x.length; i++) {
        const plus = x.slice();
        const minus = x.slice();
        plus[i] += step;
        minus[i] -= step;
        const dot = (v: number[]) => f64(v).reduce((acc, y, j) => acc + y * probe[j]!, 0);
        const numeric = (dot(plus) - dot(minus)) / (2 * step);
        expect(Math.abs(got[i]! - numeric), `${name}[${i}]`).toBeLessThan(2e-4 * Math.max(1, Math.abs(numeric)));
      }
    }
  });

  it('gelu is the exact erf form and silu is x·σ(x)', async () => {
    const xs = Float64Array.from({ length: 161 }, (_, i) => -4 + i * 0.05);
    const g = tf.tidy(() => gelu(tf.tensor1d(Float32Array.from(xs))));
    const s = tf.tidy(() => silu(tf.tensor1d(Float32Array.from(xs))));
    const gData = (await g.data()) as Float32Array;
    const sData = (await s.data()) as Float32Array;
    // tfjs's erf kernel is a rational approximation with |error| ≤ 1.5e-7; times |x|/2 ≤ 2 plus float32 rounding.
    expect(maxAbsDiff(gData, xs.map((x) => 0.5 * x * (1 + erf64(x / Math.SQRT2))))).toBeLessThan(1e-6);
    // The tanh approximation differs by up to ~4.7e-4 near |x| ≈ 2; the exact form must be far closer.
    const tanhForm = xs.map((x) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3))));
    expect(maxAbsDiff(gData, tanhForm)).toBeGreaterThan(1e-4);
    expect(maxAbsDiff(sData, xs.map((x) => x / (1 + Math.exp(-x))))).toBeLessThan(1e-6);
    tf.dispose([g, s]);
  });

  it('multi-head attention matches a float64 oracle (head h uses features [h·dh, (h+1)·dh))', async () => {
    const [b, l, d, heads] = [2, 5, 6, 2];
    const dh = d / heads;
    const q = f32(normals(b * l * d, 6));
    const k = f32(normals(b * l * d, 7));
    const v = f32(normals(b * l * d, 8));
    const expected = new Float64Array(b * l * d);
    for (let n = 0; n < b; n++) for (let hd = 0; hd < heads; hd++) for (let i = 0; i < l; i++) {
      const scores = Array.from({ length: l }, (_, j) => {
        let dot = 0;
        for (let f = 0; f < dh; f++) dot += q[(n * l + i) * d + hd * dh + f]! * k[(n * l + j) * d + hd * dh + f]!;
        return dot / Math.sqrt(dh);
      });
      const top = Math.max(...scores);
      const weights = scores.map((s) => Math.exp(s - top));
      const total = weights.reduce((s, w) => s + w, 0);
      for (let f = 0; f < dh; f++) {
        let sum = 0;
        for (let j = 0; j < l; j++) sum += (weights[j]! / total) * v[(n * l + j) * d + hd * dh + f]!;
        expected[(n * l + i) * d + hd * dh + f] = sum;
      }
    }
    const t = (a: Float64Array) => tf.tensor3d(Float32Array.from(a), [b, l, d]);
    const out = tf.tidy(() => attention(t(q), t(k), t(v), heads));
    expect(maxAbsDiff((await out.data()) as Float32Array, expected)).toBeLessThan(1e-5);
    out.dispose();
  });

  it('linear computes x·W + b over the last axis; upsampleNearest2x repeats pixels exactly', async () => {
    const x = f32(normals(2 * 3 * 4, 10));
    const w = f32(normals(4 * 5, 11));
    const bias = f32(normals(5, 12));
    const expected = new Float64Array(2 * 3 * 5);
    for (let r = 0; r < 6; r++) for (let o = 0; o < 5; o++) {
      let sum = bias[o]!;
      for (let i = 0; i < 4; i++) sum += x[r * 4 + i]! * w[i * 5 + o]!;
      expected[r * 5 + o] = sum;
    }
    const y = tf.tidy(() => linear(tf.tensor3d(Float32Array.from(x), [2, 3, 4]), tf.tensor2d(Float32Array.from(w), [4, 5]), tf.tensor1d(Float32Array.from(bias))));
    expect(y.shape).toEqual([2, 3, 5]);
    expect(maxAbsDiff((await y.data()) as Float32Array, expected)).toBeLessThan(1e-5);
    y.dispose();

    const [b, h, wd, c] = [2, 3, 2, 2];
    const input = Float32Array.from({ length: b * h * wd * c }, (_, i) => i);
    const up = tf.tidy(() => upsampleNearest2x(tf.tensor4d(input, [b, h, wd, c])));
    expect(up.shape).toEqual([b, 2 * h, 2 * wd, c]);
    const data = (await up.data()) as Float32Array;
    let wrong = 0;
    for (let n = 0; n < b; n++) for (let yy = 0; yy < 2 * h; yy++) for (let xx = 0; xx < 2 * wd; xx++) for (let ch = 0; ch < c; ch++) {
      const got = data[((n * 2 * h + yy) * 2 * wd + xx) * c + ch];
      if (got !== input[((n * h + Math.floor(yy / 2)) * wd + Math.floor(xx / 2)) * c + ch]) wrong++;
    }
    expect(wrong).toBe(0);
    up.dispose();
  });

  it('every layer has gradients and leaves no tensors behind; bad shapes throw NnError', async () => {
    const x = tf.randomNormal([1, 4, 4, 4], 0, 1, 'float32', 1) as tf.Tensor4D;
    const w = tf.randomNormal([3, 3, 4, 4], 0, 1, 'float32', 2) as tf.Tensor4D;
    const g = tf.ones([4]) as tf.Tensor1D;
    const z = tf.zeros([4]) as tf.Tensor1D;
    const lw = tf.randomNormal([4, 4], 0, 1, 'float32', 3) as tf.Tensor2D;
    const f = (xx: tf.Tensor): tf.Scalar => {
      const x4 = xx as tf.Tensor4D;
      let h = conv2d(x4, w, z, { stride: 2, padding: [[0, 1], [0, 1]] });
      h = upsampleNearest2x(groupNorm(silu(h) as tf.Tensor4D, g, z, 2, 1e-6));
      const tokens = tf.reshape(layerNorm(gelu(h), g, z, 1e-5), [1, 16, 4]) as tf.Tensor3D;
      const a = attention(tokens, tokens, tokens, 2);
      return tf.sum(tf.square(linear(a, lw, z))) as tf.Scalar;
    };
    const growth = await tensorGrowth(async () => {
      const grad = tf.grad(f)(x);
      const data = (await grad.data()) as Float32Array;
      expect(data.every(Number.isFinite) && data.some((v) => v !== 0)).toBe(true);
      grad.dispose();
      // Each layer alone returns exactly one new tensor and keeps no intermediates.
      const outputs = [
        conv2d(x, w, z, { stride: 2, padding: [[0, 1], [0, 1]] }),
        conv2d(x, w, z, { padding: 2 }),
        groupNorm(x, g, z, 2, 1e-6),
        layerNorm(x, g, z, 1e-5),
        upsampleNearest2x(x),
        gelu(x),
        silu(x),
        linear(x, lw, z),
      ];
      tf.dispose(outputs);
    });
    expect(growth).toBe(0);
    expect(() => conv2d(tf.zeros([1, 4, 4, 3]) as tf.Tensor4D, w, undefined)).toThrow(NnError);
    expect(() => groupNorm(x, g, z, 3, 1e-6)).toThrow(/divisible by groups=3/);
    tf.dispose([x, w, g, z, lw]);
  });
});

function groupNorm64(x: number[], [b, h, w, c]: number[], gamma: number[], beta: number[], groups: number, eps: number): number[] {
  const out = new Array<number>(x.length);
  const size = c / groups;
  for (let n = 0; n < b; n++) {
    for (let g = 0; g < groups; g++) {
      const idx: number[] = [];
      for (let p = 0; p < h * w; p++) for (let k = 0; k < size; k++) idx.push((n * h * w + p) * c + g * size + k);
      const mean = idx.reduce((a, i) => a + x[i]!, 0) / idx.length;
      const variance = idx.reduce((a, i) => a + (x[i]! - mean) ** 2, 0) / idx.length;
      for (const i of idx) out[i] = ((x[i]! - mean) / Math.sqrt(variance + eps)) * gamma[i % c]! + beta[i % c]!;
    }
  }
  return out;
}

function layerNorm64(x: number[], c: number, gamma: number[], beta: number[], eps: number): number[] {
  const out = new Array<number>(x.length);
  for (let r = 0; r < x.length / c; r++) {
    const row = x.slice(r * c, (r + 1) * c);
    const mean = row.reduce((a, v) => a + v, 0) / c;
    const variance = row.reduce((a, v) => a + (v - mean) ** 2, 0) / c;
    row.forEach((v, k) => (out[r * c + k] = ((v - mean) / Math.sqrt(variance + eps)) * gamma[k]! + beta[k]!));
  }
  return out;
}
