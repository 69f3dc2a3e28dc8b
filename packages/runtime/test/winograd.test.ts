import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { ensureGradients, registerTrainingKernels, unregisterTrainingKernels, useBackend } from '@gq/runtime';
import { trainingKernelStatus } from '@gq/runtime/internal';
import { filterTransformsFor, winogradAlgorithmFor, winogradAlgorithms, winogradApplies, winogradTuning, winogradConv3x3, winogradFilterGradient } from '../src/kernels/winograd.js';
import type { WasmBackendLike } from '../src/kernels/wasm-ops.js';
import { normals, on, relativeError } from './helpers/numeric.js';

/**
 * Every product of a 3×3, stride-1, pad-1 NHWC convolution: `add(out, input, tap)` once per output
 * position and filter tap that reads inside the image, with out = (b, i, j)'s position index,
 * input = the read position's index and tap = ky·3 + kx.
 */
function eachProduct([batch, height, width]: readonly number[], add: (out: number, input: number, tap: number) => void): void {
  for (let b = 0; b < batch; b++) {
    for (let i = 0; i < height; i++) {
      for (let j = 0; j < width; j++) {
        for (let ky = 0; ky < 3; ky++) {
          const yy = i + ky - 1;
          if (yy < 0 || yy >= height) continue;
          for (let kx = 0; kx < 3; kx++) {
            const xx = j + kx - 1;
            if (xx >= 0 && xx < width) add((b * height + i) * width + j, (b * height + yy) * width + xx, ky * 3 + kx);
          }
        }
      }
    }
  }
}

/**
 * Float64 oracle of y = conv2d(x, w, stride 1, pad 1) + bias (cross-correlation, NHWC, filter
 * [3, 3, Ci, Co]), as tfjs and PyTorch define it.
 */
function convOracle(x: Float32Array, w: Float32Array, bias: Float32Array | undefined, shape: number[], co: number): Float64Array {
  const ci = shape[3]!;
  const y = new Float64Array((x.length / ci) * co);
  if (bias !== undefined) for (let k = 0; k < y.length; k++) y[k] = bias[k % co]!;
  eachProduct(shape, (out, input, tap) => {
    for (let c = 0; c < ci; c++) {
      const v = x[input * ci + c]!;
      for (let o = 0; o < co; o++) y[out * co + o]! += v * w[(tap * ci + c) * co + o]!;
    }
  });
  return y;
}

/*
 * Tolerance: each output sums 9·Ci float32 products of N(0, 1) values (|y| up to ~100 here).
 * F(2×2, 3×3)'s transforms only add, subtract and halve, so the error is float32 rounding of sums
 * of that size, ≲ 1e-6 of the largest |y| (measured ≤ 5e-7); F(4×4, 3×3)'s factors amplify the
 * rounding about fivefold (measured ≤ 2.4e-6 here, 2.0e-6 in a float32 simulation at 64 channels). A wrong tap,
 * tile edge or channel gives errors of order 1e-2 or more of it.
 */
const tolerance = 1e-5;

const fastCalls = (name: 'FusedConv2D' | 'Conv2D' | 'Conv2DBackpropInput'): number => trainingKernelStatus()[name].fastCalls;

beforeAll(async () => {
  await useBackend('cpu');
  await useBackend('wasm');
  await ensureGradients();
  registerTrainingKernels();
});
afterAll(() => {
  unregisterTrainingKernels();
});

describe.each([2, 4] as const)('Winograd convolution on wasm, output tiles of %i preferred', (outputTile) => {
  let saved: typeof winogradTuning.outputTile;
  beforeAll(() => {
    saved = winogradTuning.outputTile;
    winogradTuning.outputTile = outputTile;
  });
  afterAll(() => {
    winogradTuning.outputTile = saved;
  });

  const cases = [
    { shape: [4, 8, 8, 32], co: 36 },
    { shape: [2, 16, 12, 40], co: 32 },
    { shape: [1, 32, 32, 32], co: 64 },
    { shape: [2, 32, 32, 16], co: 16 },
    // Sides that are not multiples of 4: F(2×2, 3×3) whatever the preference.
    { shape: [8, 6, 10, 16], co: 20 },
    // One tile per image with F(4×4): it lies on all four edges.
    { shape: [32, 4, 4, 16], co: 16 },
    // Thin layers: F(4×4) takes 4 channels up (F(2×2) 16), and 3 through zero-padded copies.
    ...(outputTile === 4
      ? [
          { shape: [8, 8, 8, 4], co: 16 },
          { shape: [4, 16, 16, 16], co: 4 },
          { shape: [8, 8, 8, 3], co: 16 },
          { shape: [4, 16, 16, 16], co: 3 },
        ]
      : []),
  ];
  for (const { shape, co } of cases) {
    it(`fused conv2d + bias, x [${shape.join(',')}] → ${co} channels, matches a float64 oracle`, async () => {
      const padded = (c: number): number => Math.ceil(c / 4) * 4;
      expect(winogradApplies([...shape.slice(0, 3), padded(shape[3]!)], [3, 3, padded(shape[3]!), padded(co)])).toBe(true);
      const x = normals(1, shape.reduce((a, b) => a * b, 1));
      const w = normals(2, 9 * shape[3]! * co);
      const bias = normals(3, co);
      const before = fastCalls('FusedConv2D');
      const [y] = await on('wasm', () =>
        tf.fused.conv2d({ x: tf.tensor4d(x, shape as [number, number, number, number]), filter: tf.tensor4d(w, [3, 3, shape[3]!, co]), strides: 1, pad: 'same', bias: tf.tensor1d(bias) }),
      );
      expect(fastCalls('FusedConv2D')).toBe(before + 1);
      expect(relativeError(y!, convOracle(x, w, bias, shape, co))).toBeLessThan(tolerance);
    });
  }

  it('conv2d without a bias, and the input gradient (the flipped filter\'s convolution), match float64 oracles', async () => {
    const shape = [4, 8, 8, 32];
    const co = 32;
    const x = normals(4, 4 * 8 * 8 * 32);
    const w = normals(5, 9 * 32 * co);
    const dy = normals(6, 4 * 8 * 8 * co);
    const forward = fastCalls('Conv2D');
    const [y, dx] = await on('wasm', () => {
      const xt = tf.tensor4d(x, shape as [number, number, number, number]);
      const wt = tf.tensor4d(w, [3, 3, 32, co]);
      const dyt = tf.tensor4d(dy, [4, 8, 8, co]);
      const grad = tf.grad((input: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(input as tf.Tensor4D, wt, 1, 'same'), dyt)));
      return [tf.conv2d(xt, wt, 1, 'same'), grad(xt)];
    });
    // The forward call, the forward inside tf.grad, and the input gradient's convolution.
    expect(fastCalls('Conv2D')).toBe(forward + 3);
    expect(relativeError(y!, convOracle(x, w, undefined, shape, co))).toBeLessThan(tolerance);
    // dx = conv(dy, w rotated by 180° with in/out swapped), pad 1.
    const flipped = new Float32Array(w.length);
    for (let ky = 0; ky < 3; ky++) {
      for (let kx = 0; kx < 3; kx++) {
        for (let c = 0; c < 32; c++) for (let o = 0; o < co; o++) flipped[((ky * 3 + kx) * co + o) * 32 + c] = w[(((2 - ky) * 3 + (2 - kx)) * 32 + c) * co + o]!;
      }
    }
    expect(relativeError(dx!, convOracle(dy, flipped, undefined, [4, 8, 8, co], 32))).toBeLessThan(tolerance);
  });

  for (const [batch, height, width, ci, co] of [
    [4, 8, 8, 32, 36],
    [2, 16, 12, 40, 32],
    [2, 16, 16, 16, 16],
    ...(outputTile === 4
      ? [
          [4, 8, 8, 3, 16],
          [2, 16, 16, 16, 3],
        ]
      : []),
  ]) {
    it(`the weight gradient, x [${batch},${height},${width},${ci}] → ${co} channels, matches a float64 oracle`, async () => {
      const x = normals(12, batch * height * width * ci);
      const w = normals(13, 9 * ci * co);
      const dy = normals(14, batch * height * width * co);
      const [dw, direct] = await on('wasm', () => {
        const xt = tf.tensor4d(x, [batch, height, width, ci]);
        const dyt = tf.tensor4d(dy, [batch, height, width, co]);
        // Through tf.grad (the registered Conv2DBackpropFilter), and the Winograd function itself.
        const viaGrad = tf.grad((filter: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(xt, filter as tf.Tensor4D, 1, 'same'), dyt)))(tf.tensor4d(w, [3, 3, ci, co]));
        const info = winogradFilterGradient(tf.backend() as unknown as WasmBackendLike, xt, dyt)!;
        return [viaGrad, tf.engine().makeTensorFromTensorInfo(info)];
      });
      expect(Array.from(dw!)).toEqual(Array.from(direct!));
      // dW[ky, kx, c, o] = Σ over images and positions of x[b, i + ky − 1, j + kx − 1, c] · dy[b, i, j, o].
      const oracle = new Float64Array(9 * ci * co);
      eachProduct([batch, height, width], (out, input, tap) => {
        for (let c = 0; c < ci; c++) {
          const v = x[input * ci + c]!;
          for (let o = 0; o < co; o++) oracle[(tap * ci + c) * co + o]! += v * dy[out * co + o]!;
        }
      });
      expect(relativeError(dw!, oracle)).toBeLessThan(tolerance);
    });
  }

  it('runs in image chunks (2 + 2 + 1 images) with skewed taps with exactly the sums of one unskewed pass, forward and weight gradient', async () => {
    const [batch, side, ci, co] = [5, 8, 16, 20];
    const x = normals(15, batch * side * side * ci);
    const w = normals(16, 9 * ci * co);
    const bias = normals(17, co);
    const dy = normals(18, batch * side * side * co);
    // Two images' transformed tiles: n² taps · (side / m)² tiles · (Ci + Co) floats each.
    const { m, n } = winogradAlgorithmFor(side, side);
    expect(m).toBe(outputTile);
    const twoImages = 2 * 4 * n * n * (side / m) ** 2 * (ci + co);
    const run = (chunkBytes: number, tapSkewBytes: number) =>
      on('wasm', () => {
        const before = { ...winogradTuning };
        Object.assign(winogradTuning, { chunkBytes, tapSkewBytes });
        try {
          const backend = tf.backend() as unknown as WasmBackendLike;
          const xt = tf.tensor4d(x, [batch, side, side, ci]);
          const y = winogradConv3x3(backend, xt, tf.tensor4d(w, [3, 3, ci, co]), tf.tensor1d(bias))!;
          const dw = winogradFilterGradient(backend, xt, tf.tensor4d(dy, [batch, side, side, co]))!;
          return [tf.engine().makeTensorFromTensorInfo(y), tf.engine().makeTensorFromTensorInfo(dw)];
        } finally {
          Object.assign(winogradTuning, before);
        }
      });
    const [yChunks, dwChunks] = await run(twoImages, 64);
    const [yWhole, dwWhole] = await run(1 << 30, 0);
    expect(Array.from(yChunks!)).toEqual(Array.from(yWhole!));
    expect(Array.from(dwChunks!)).toEqual(Array.from(dwWhole!));
    expect(relativeError(yChunks!, convOracle(x, w, bias, [batch, side, side, ci], co))).toBeLessThan(tolerance);
    const oracle = new Float64Array(9 * ci * co);
    eachProduct([batch, side, side], (out, input, tap) => {
      for (let c = 0; c < ci; c++) for (let o = 0; o < co; o++) oracle[(tap * ci + c) * co + o]! += x[input * ci + c]! * dy[out * co + o]!;
    });
    expect(relativeError(dwChunks!, oracle)).toBeLessThan(tolerance);
  });

  it('leaves other convolutions to wasm\'s kernel, which still gives the same results', async () => {
    // Too few channels for F(2×2) (sides not multiples of 4), channels not a multiple of 4, odd
    // size, stride 2, too few tiles, an activation: each runs direct.
    const others = [
      { shape: [8, 6, 6, 8], co: 32, strides: 1, activation: 'linear' },
      { shape: [8, 6, 6, 3], co: 32, strides: 1, activation: 'linear' },
      { shape: [4, 9, 8, 32], co: 32, strides: 1, activation: 'linear' },
      { shape: [4, 8, 8, 32], co: 32, strides: 2, activation: 'linear' },
      { shape: [1, 8, 8, 32], co: 32, strides: 1, activation: 'linear' },
      { shape: [4, 8, 8, 32], co: 32, strides: 1, activation: 'relu' },
    ] as const;
    for (const { shape, co, strides, activation } of others) {
      const x = normals(7, shape.reduce((a: number, b: number) => a * b, 1));
      const w = normals(8, 9 * shape[3] * co);
      const before = trainingKernelStatus().FusedConv2D;
      const run = () => tf.fused.conv2d({ x: tf.tensor4d(x, [...shape]), filter: tf.tensor4d(w, [3, 3, shape[3], co]), strides, pad: 'same', activation });
      const [wasm] = await on('wasm', run);
      const [cpu] = await on('cpu', run);
      await tf.setBackend('wasm');
      const after = trainingKernelStatus().FusedConv2D;
      expect([after.fastCalls - before.fastCalls, after.fallbackCalls - before.fallbackCalls], JSON.stringify(shape)).toEqual([0, 1]);
      expect(relativeError(wasm!, cpu!)).toBeLessThan(tolerance);
    }
  });

  it('leaves no tensors or wasm buffers behind, forward and backward', async () => {
    await tf.setBackend('wasm');
    const backend = tf.backend() as unknown as { numDataIds(): number };
    const x = tf.tensor4d(normals(9, 4 * 8 * 8 * 32), [4, 8, 8, 32]);
    const w = tf.tensor4d(normals(10, 9 * 32 * 32), [3, 3, 32, 32]);
    const bias = tf.tensor1d(normals(11, 32));
    const tensors = tf.memory().numTensors;
    const buffers = backend.numDataIds();
    const before = fastCalls('FusedConv2D');
    for (let i = 0; i < 2; i++) {
      const grads = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.fused.conv2d({ x: a as tf.Tensor4D, filter: b as tf.Tensor4D, strides: 1, pad: 'same', bias })))([x, w]);
      for (const g of grads) await g.data();
      tf.dispose(grads);
    }
    expect(fastCalls('FusedConv2D')).toBe(before + 2);
    expect(trainingKernelStatus().Conv2DBackpropFilter.fastCalls).toBeGreaterThanOrEqual(2);
    expect(tf.memory().numTensors).toBe(tensors);
    expect(backend.numDataIds()).toBe(buffers);
    tf.dispose([x, w, bias]);
  });

  it('transforms filters as G g Gᵀ and weight gradients as Gᵀ W̃ G, each value rounded once from float64', () => {
    const alg = winogradAlgorithms[outputTile];
    const { n, filterMatrix: G } = alg;
    const memory = new WebAssembly.Memory({ initial: 1 });
    const transforms = filterTransformsFor(memory, alg)!;
    const heap = new Float32Array(memory.buffer);
    const pairs = 6;
    // Pair 0 is δ at the centre tap: G g Gᵀ = c cᵀ with c = G's column 1, exactly (one product each).
    const g = normals(30, 9 * pairs);
    for (let tap = 0; tap < 9; tap++) g[tap * pairs] = tap === 4 ? 1 : 0;
    heap.set(g, 0);
    const uAt = 9 * pairs;
    transforms.forward(0, 4 * uAt, pairs);
    const u = heap.slice(uAt, uAt + n * n * pairs);
    const c = G.map((row) => row[1]!);
    expect(Array.from({ length: n * n }, (_, e) => u[e * pairs]! + 0)).toEqual(c.flatMap((a) => c.map((b) => Math.fround(a * b) + 0)));
    // Every pair against the float64 oracle, within half a float32 unit of its value (plus float64 noise).
    const within = (actual: number, expected: number): boolean => Math.abs(actual - expected) <= Math.abs(expected) * 2 ** -24 * 1.0001 + 1e-30;
    for (let k = 0; k < pairs; k++) {
      for (let r = 0; r < n; r++) {
        for (let q = 0; q < n; q++) {
          let expected = 0;
          for (let a = 0; a < 3; a++) for (let b = 0; b < 3; b++) expected += G[r]![a]! * g[(3 * a + b) * pairs + k]! * G[q]![b]!;
          expect(within(u[(n * r + q) * pairs + k]!, expected), `U[${r}][${q}] of pair ${k}`).toBe(true);
        }
      }
    }
    // Backward: W̃ [n², pairs] → dW [3, 3, pairs] = Gᵀ W̃ G.
    const product = normals(31, n * n * pairs);
    heap.set(product, 0);
    const dwAt = n * n * pairs;
    transforms.backward(0, 4 * dwAt, pairs);
    for (let k = 0; k < pairs; k++) {
      for (let a = 0; a < 3; a++) {
        for (let b = 0; b < 3; b++) {
          let expected = 0;
          for (let r = 0; r < n; r++) for (let q = 0; q < n; q++) expected += G[r]![a]! * product[(n * r + q) * pairs + k]! * G[q]![b]!;
          expect(within(heap[dwAt + (3 * a + b) * pairs + k]!, expected), `dW[${a}][${b}] of pair ${k}`).toBe(true);
        }
      }
    }
  });
});
