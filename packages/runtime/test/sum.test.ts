import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { ensureGradients, registerTrainingKernels, useBackend } from '@gq/runtime';
import { trainingKernelStatus } from '@gq/runtime/internal';
import { normals, relativeError } from './helpers/numeric.js';

/*
 * The wasm Sum replacement (src/kernels/sum.ts): sums over a leading prefix of the axes run as a
 * SIMD column sum on the heap (the 'fast' path); everything else goes to wasm's own kernel (the
 * 'fallback' path). Each case is checked against a float64 oracle of the float32 inputs, and the
 * fast path against wasm's original kernel on the same data.
 *
 * Tolerances, relative to max(1, max|expected|) (absolute for O(1) sums, relative for long ones):
 * the fast path's float32 blocks hold at most 64 rows, so its error is ~64·ε·Σ|x| at worst plus
 * the final rounding to float32 (ε = 6e-8). Measured on [2048, 128 | 130 | 512], seeds 1–3:
 * ≤ 2e-7 on N(0, 1) data (wasm's running float32 sum over the 2048 rows: 0.8–1.5e-6) and ≤ 1.3e-7
 * at a mean of 1e4 (wasm's: 1.8–2.7e-6); rounding the exact sum to float32 alone costs 2–5e-8.
 * 1e-6 leaves room for other seeds and still catches a dropped block, row or column (≥ 1e-3).
 */

const tolerance = 1e-6;

const product = (dims: readonly number[]): number => dims.reduce((a, b) => a * b, 1);

/** Σ over `axes` of a row-major tensor in float64, keeping the other axes in order. */
function oracle(values: ArrayLike<number>, shape: readonly number[], axes: readonly number[]): Float64Array {
  const rank = shape.length;
  const reduced = new Set(axes.map((a) => (a < 0 ? a + rank : a)));
  const kept = shape.map((_, i) => i).filter((i) => !reduced.has(i));
  const out = new Float64Array(product(kept.map((i) => shape[i]!)));
  const index = new Array<number>(rank).fill(0);
  for (let flat = 0; flat < values.length; flat++) {
    let o = 0;
    for (const i of kept) o = o * shape[i]! + index[i]!;
    out[o] += values[flat]!;
    for (let i = rank - 1; i >= 0; i--) {
      if (++index[i]! < shape[i]!) break;
      index[i] = 0;
    }
  }
  return out;
}

function sumCalls(): { fast: number; fallback: number } {
  const s = trainingKernelStatus().Sum;
  return { fast: s.fastCalls, fallback: s.fallbackCalls };
}

/** Run `fn`, expecting `path` to serve at least one Sum call. */
async function expectPath<T>(path: 'fast' | 'fallback', fn: () => Promise<T>): Promise<T> {
  const before = sumCalls();
  const result = await fn();
  const after = sumCalls();
  expect(after[path] - before[path], `Sum ${path} calls`).toBeGreaterThan(0);
  if (path === 'fallback') expect(after.fast - before.fast, 'Sum fast calls').toBe(0);
  return result;
}

/** tf.sum on `backend`, returning values and shape, with no tensor left behind. */
async function sumOn(backend: 'cpu' | 'wasm', values: Float32Array | Int32Array, shape: number[], axes: number[], keepDims: boolean) {
  await tf.setBackend(backend);
  const before = tf.memory().numTensors;
  const dtype = values instanceof Int32Array ? 'int32' : 'float32';
  const out = tf.tidy(() => tf.sum(tf.tensor(values, shape, dtype), axes, keepDims));
  const result = { values: await out.data(), shape: out.shape, dtype: out.dtype };
  out.dispose();
  expect(tf.memory().numTensors).toBe(before);
  return result;
}

/** wasm's original Sum kernel, saved before `registerTrainingKernels` replaced it. */
let originalSum: tf.KernelConfig;

/** The original kernel's result on the wasm backend (freed again). */
function originalOn(values: Float32Array, shape: number[], axes: number[]): Float32Array {
  const backend = tf.backend();
  const x = tf.tensor(values, shape);
  const out = originalSum.kernelFunc({ inputs: { x }, backend, attrs: { axis: axes, keepDims: false } }) as tf.TensorInfo;
  const read = Float32Array.from(backend.readSync(out.dataId) as Float32Array);
  backend.disposeData(out.dataId);
  x.dispose();
  return read;
}

beforeAll(async () => {
  await useBackend('cpu');
  await useBackend('wasm');
  await ensureGradients();
  originalSum = tf.getKernel('Sum', 'wasm')!;
  registerTrainingKernels();
  expect(tf.getKernel('Sum', 'wasm')).not.toBe(originalSum);
});

interface Case {
  readonly shape: number[];
  readonly axes: number[];
  readonly keepDims?: boolean;
  readonly mean?: number;
}

const describeCase = (c: Case): string => `${JSON.stringify(c.shape)} over ${JSON.stringify(c.axes)}${c.keepDims ? ' keepDims' : ''}${c.mean ? ` mean ${c.mean}` : ''}`;

describe('Sum over leading axes on wasm (the SIMD path)', () => {
  const cases: Case[] = [
    { shape: [2048, 128], axes: [0] },
    { shape: [32, 64, 512], axes: [0, 1] },
    { shape: [32, 64, 512], axes: [1, 0], keepDims: true },
    { shape: [7, 5], axes: [0] },
    { shape: [7, 5], axes: [-2], keepDims: true },
    { shape: [3, 4, 6], axes: [0] },
    { shape: [3, 4, 6], axes: [0, 1] },
    { shape: [3, 4, 6], axes: [0, -2], keepDims: true },
    { shape: [1, 8], axes: [0] },
    // Column tails: no SIMD column (C = 1, 3), one SIMD quad and a tail (5), a long row with two (130).
    { shape: [300, 1], axes: [0] },
    { shape: [129, 3], axes: [0] },
    { shape: [65, 5], axes: [0], keepDims: true },
    { shape: [2048, 130], axes: [0] },
    { shape: [16, 8, 130], axes: [0, 1] },
    // Rows a multiple of the 64-row block and not.
    { shape: [128, 4], axes: [0] },
    { shape: [127, 12], axes: [0] },
  ];

  it.each(cases.map((c) => [describeCase(c), c] as const))('%s matches the float64 oracle and cpu', async (_, c) => {
    const values = normals(1, product(c.shape), c.mean ?? 0);
    const keepDims = c.keepDims ?? false;
    const wasm = await expectPath('fast', () => sumOn('wasm', values, c.shape, c.axes, keepDims));
    const cpu = await sumOn('cpu', values, c.shape, c.axes, keepDims);
    expect(wasm.shape).toEqual(cpu.shape);
    expect(wasm.dtype).toBe('float32');
    const expected = oracle(values, c.shape, c.axes);
    expect(relativeError(wasm.values as Float32Array, expected)).toBeLessThanOrEqual(tolerance);
    expect(relativeError(wasm.values as Float32Array, cpu.values as Float32Array)).toBeLessThanOrEqual(tolerance);
  });

  it.each([
    [[2048, 128], [0]],
    [[32, 64, 512], [0, 1]],
    [[2048, 130], [0]],
  ])('at a mean of 1e4, %j over %j is at least as accurate as wasm\'s float32 sum', async (shape, axes) => {
    const values = normals(2, product(shape), 1e4);
    const expected = oracle(values, shape, axes);
    const fast = await expectPath('fast', () => sumOn('wasm', values, shape, axes, false));
    await tf.setBackend('wasm');
    const original = originalOn(values, shape, axes);
    const fastError = relativeError(fast.values as Float32Array, expected);
    const originalError = relativeError(original, expected);
    expect(fastError).toBeLessThanOrEqual(tolerance);
    // Rounding to float32 alone costs up to half an ulp of the largest sum (~2e7 → 3e-8 relative).
    expect(fastError).toBeLessThanOrEqual(Math.max(originalError, 6e-8));
  });

  it('no rows to sum over gives zeros (wasm\'s kernel left its output unwritten)', async () => {
    const wasm = await expectPath('fast', () => sumOn('wasm', new Float32Array(0), [0, 4], [0], false));
    expect(wasm.shape).toEqual([4]);
    expect(Array.from(wasm.values)).toEqual([0, 0, 0, 0]);
  });
});

describe('Sum cases left to wasm\'s kernel', () => {
  const cases: Case[] = [
    { shape: [7, 5], axes: [-1] },
    { shape: [7, 5], axes: [1], keepDims: true },
    { shape: [3, 4, 6], axes: [1] },
    { shape: [3, 4, 6], axes: [0, 2] },
    { shape: [3, 4, 6], axes: [2] },
    { shape: [3, 4, 6], axes: [0, 1, 2] },
    { shape: [2048, 128], axes: [1] },
  ];

  it.each(cases.map((c) => [describeCase(c), c] as const))('%s', async (_, c) => {
    const values = normals(3, product(c.shape));
    const keepDims = c.keepDims ?? false;
    const wasm = await expectPath('fallback', () => sumOn('wasm', values, c.shape, c.axes, keepDims));
    const cpu = await sumOn('cpu', values, c.shape, c.axes, keepDims);
    expect(wasm.shape).toEqual(cpu.shape);
    // wasm's own running float32 sums: up to ~n·ε relative for n ≤ 2048 terms.
    expect(relativeError(wasm.values as Float32Array, oracle(values, c.shape, c.axes))).toBeLessThanOrEqual(1e-5);
  });

  it('int32 over a leading axis stays exact and int32', async () => {
    const values = Int32Array.from({ length: 6 * 5 }, (_, i) => (i * 7919) % 1000 - 500);
    const wasm = await expectPath('fallback', () => sumOn('wasm', values, [6, 5], [0], false));
    expect(wasm.dtype).toBe('int32');
    expect(Array.from(wasm.values)).toEqual(Array.from(oracle(values, [6, 5], [0])));
  });
});

describe('Sum in training', () => {
  it('the bias gradient of a linear layer matches cpu and takes the SIMD path', async () => {
    const [n, k, c] = [300, 24, 130];
    const xs = normals(4, n * k);
    const ws = normals(5, k * c);
    const bs = normals(6, c);
    const targets = normals(7, n * c);
    const gradients = async (backend: 'cpu' | 'wasm'): Promise<Float32Array[]> => {
      await tf.setBackend(backend);
      const before = tf.memory().numTensors;
      const grads = tf.tidy(() => {
        const x = tf.tensor2d(xs, [n, k]);
        const t = tf.tensor2d(targets, [n, c]);
        const loss = (w: tf.Tensor, b: tf.Tensor): tf.Scalar => tf.mean(tf.square(tf.sub(tf.add(tf.matMul(x, w), b), t)));
        return tf.grads(loss)([tf.tensor2d(ws, [k, c]), tf.tensor1d(bs)]);
      });
      const values = await Promise.all(grads.map(async (g) => Float32Array.from(await g.data())));
      tf.dispose(grads);
      expect(tf.memory().numTensors).toBe(before);
      return values;
    };
    const wasm = await expectPath('fast', () => gradients('wasm'));
    const cpu = await gradients('cpu');
    expect(wasm[1]).toHaveLength(c);
    expect(relativeError(wasm[0]!, cpu[0]!)).toBeLessThanOrEqual(1e-5);
    expect(relativeError(wasm[1]!, cpu[1]!)).toBeLessThanOrEqual(1e-5);
  });

  it('leaves no tensors and no wasm buffers behind, on either path', async () => {
    await tf.setBackend('wasm');
    const backend = tf.backend();
    const run = (): void => {
      tf.tidy(() => {
        const big = tf.tensor(normals(8, 2048 * 130), [2048, 130]);
        const small = tf.tensor(normals(9, 3 * 4 * 6), [3, 4, 6]);
        const ints = tf.tensor([1, 2, 3, 4], [2, 2], 'int32');
        tf.sum(big, 0);
        tf.sum(big, [0], true);
        tf.sum(small, [0, 1]);
        tf.sum(small, -1);
        tf.sum(small, [0, 2]);
        tf.sum(ints, 0);
        tf.sum(tf.tensor(normals(10, 300), [300, 1]), 0);
      });
    };
    run();
    const tensors = tf.memory().numTensors;
    const dataIds = backend.numDataIds();
    const before = sumCalls();
    for (let i = 0; i < 3; i++) run();
    const after = sumCalls();
    expect(after.fast - before.fast).toBe(3 * 4);
    expect(after.fallback - before.fallback).toBe(3 * 3);
    expect(tf.memory().numTensors).toBe(tensors);
    expect(backend.numDataIds()).toBe(dataIds);
  });
});
