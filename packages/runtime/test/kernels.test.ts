import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import {
  RuntimeError,
  ensureGradients,
  registerTrainingKernels,
  unregisterTrainingKernels,
  useBackend,
  type TrainingKernelName,
} from '@gq/runtime';
import {
  convolutionKernelNames,
  convolutionShare,
  fusedKernelNames,
  layerKernelNames,
  profileKernels,
  trainingKernelNames,
  trainingKernelStatus,
} from '@gq/runtime/internal';
import { groupNorm, layerNorm, upsampleNearest2x } from '@gq/nn';
import { normGradKernelName, normKernelName, upsampleGradKernelName } from '@gq/nn/internal';
import { seededNormal, seededRandom } from '@gq/test-utils';
import { normals, on, relativeError } from './helpers/numeric.js';


export type Attrs = Record<string, unknown>;

/** Run a kernel directly (the backprop kernels have no public tfjs-core op). */
export function runKernel(name: string, inputs: Record<string, tf.Tensor>, attrs: Attrs): tf.Tensor {
  return tf.engine().runKernel(name, inputs, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
}




export function outSize(size: number, filter: number, stride: number, pad: 'same' | 'valid', dilation = 1): number {
  const effective = (filter - 1) * dilation + 1;
  return pad === 'same' ? Math.ceil(size / stride) : Math.ceil((size - effective + 1) / stride);
}

/*
 * Tolerance: every output here is a float32 sum of at most a few thousand products of O(1)
 * values. Both backends round each product and partial sum, in different orders; the error of
 * such sums is ≲ n·ε·Σ|terms|, which the (1, max|b|) scale keeps far below 1e-5 for these sizes
 * (measured ≤ 4e-7). A wrong tap, stride or padding gives errors of order 1.
 */
const tolerance = 1e-5;

type Pad = 'same' | 'valid';

interface ConvCase {
  batch: number;
  height: number;
  width: number;
  inChannels: number;
  outChannels: number;
  filter: number;
  stride: number;
  pad: Pad;
}

/**
 * Random cases over the grid the issue names (strides 1/2, same/valid, kernels 1/3/4, batch 1–8,
 * channels 1–64), rejecting those whose cpu reference would be slow: the cpu weight gradient does
 * ~B·Ho·Wo·k²·Ci·Co scalar TensorBuffer reads.
 */
function randomCases(seed: number, count: number, multiplierMax = 0): ConvCase[] {
  const random = seededRandom(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const cases: ConvCase[] = [];
  const channelChoices = [1, 2, 3, 5, 8, 16, 32, 64];
  while (cases.length < count) {
    const c: ConvCase = {
      batch: 1 + Math.floor(random() * 8),
      height: 4 + Math.floor(random() * 7),
      width: 4 + Math.floor(random() * 7),
      inChannels: pick(channelChoices),
      outChannels: multiplierMax > 0 ? 1 + Math.floor(random() * multiplierMax) : pick(channelChoices),
      filter: pick([1, 3, 4]),
      stride: pick([1, 2]),
      pad: pick(['same', 'valid'] as const),
    };
    const outHeight = outSize(c.height, c.filter, c.stride, c.pad);
    const outWidth = outSize(c.width, c.filter, c.stride, c.pad);
    const work = c.batch * outHeight * outWidth * c.filter * c.filter * c.inChannels * c.outChannels;
    if (outHeight > 0 && outWidth > 0 && work <= 400_000) cases.push(c);
  }
  // Make sure the extremes of the grid appear whatever the draw.
  cases.push({ batch: 8, height: 5, width: 6, inChannels: 1, outChannels: 64, filter: 3, stride: 2, pad: 'same' });
  cases.push({ batch: 1, height: 6, width: 5, inChannels: 64, outChannels: 1, filter: 4, stride: 1, pad: 'valid' });
  cases.push({ batch: 2, height: 7, width: 7, inChannels: 3, outChannels: 2, filter: 1, stride: 2, pad: 'valid' });
  return cases;
}

const describeCase = (c: ConvCase): string =>
  `B${c.batch} ${c.height}×${c.width} ${c.inChannels}→${c.outChannels} k${c.filter} s${c.stride} ${c.pad}`;

async function compare(fn: () => tf.Tensor | tf.Tensor[]): Promise<number> {
  const expected = await on('cpu', fn);
  const actual = await on('wasm', fn);
  let worst = 0;
  expected.forEach((e, i) => (worst = Math.max(worst, relativeError(actual[i]!, e))));
  return worst;
}

function calls(name: TrainingKernelName): { fast: number; fallback: number } {
  const s = trainingKernelStatus()[name];
  return { fast: s.fastCalls, fallback: s.fallbackCalls };
}

async function expectPath(name: TrainingKernelName, path: 'fast' | 'fallback', run: () => Promise<void>): Promise<void> {
  const before = calls(name);
  await run();
  const after = calls(name);
  expect(after[path] - before[path], `${name} ${path} calls`).toBeGreaterThan(0);
}

beforeAll(async () => {
  await useBackend('cpu');
  await useBackend('wasm');
  await ensureGradients();
  registerTrainingKernels();
});

afterAll(async () => {
  await tf.setBackend('wasm');
});

describe('registerTrainingKernels: each kernel matches the cpu backend on random shapes', () => {
  const convCases = randomCases(11, 14);

  it.each(convCases.map((c) => [describeCase(c), c] as const))('Conv2DBackpropFilter %s', async (_, c) => {
    const outHeight = outSize(c.height, c.filter, c.stride, c.pad);
    const outWidth = outSize(c.width, c.filter, c.stride, c.pad);
    const x = normals(1, c.batch * c.height * c.width * c.inChannels);
    const dy = normals(2, c.batch * outHeight * outWidth * c.outChannels);
    await expectPath('Conv2DBackpropFilter', 'fast', async () => {
      const error = await compare(() =>
        runKernel(
          'Conv2DBackpropFilter',
          {
            x: tf.tensor4d(x, [c.batch, c.height, c.width, c.inChannels]),
            dy: tf.tensor4d(dy, [c.batch, outHeight, outWidth, c.outChannels]),
          },
          { filterShape: [c.filter, c.filter, c.inChannels, c.outChannels], strides: c.stride, pad: c.pad, dataFormat: 'NHWC' },
        ),
      );
      expect(error).toBeLessThanOrEqual(tolerance);
    });
  });

  it.each(convCases.map((c) => [describeCase(c), c] as const))('Conv2DBackpropInput %s', async (_, c) => {
    const outHeight = outSize(c.height, c.filter, c.stride, c.pad);
    const outWidth = outSize(c.width, c.filter, c.stride, c.pad);
    const filter = normals(3, c.filter * c.filter * c.inChannels * c.outChannels);
    const dy = normals(4, c.batch * outHeight * outWidth * c.outChannels);
    await expectPath('Conv2DBackpropInput', 'fast', async () => {
      const error = await compare(() =>
        runKernel(
          'Conv2DBackpropInput',
          {
            dy: tf.tensor4d(dy, [c.batch, outHeight, outWidth, c.outChannels]),
            filter: tf.tensor4d(filter, [c.filter, c.filter, c.inChannels, c.outChannels]),
          },
          { inputShape: [c.batch, c.height, c.width, c.inChannels], strides: c.stride, pad: c.pad, dataFormat: 'NHWC' },
        ),
      );
      expect(error).toBeLessThanOrEqual(tolerance);
    });
  });

  const depthwiseCases = randomCases(12, 10, 3);

  it.each(depthwiseCases.map((c) => [describeCase(c).replace('→', '×'), c] as const))(
    'DepthwiseConv2dNativeBackpropFilter and ...BackpropInput %s (channel multiplier after ×)',
    async (_, c) => {
      const multiplier = c.outChannels;
      const outHeight = outSize(c.height, c.filter, c.stride, c.pad);
      const outWidth = outSize(c.width, c.filter, c.stride, c.pad);
      const x = normals(5, c.batch * c.height * c.width * c.inChannels);
      const filter = normals(6, c.filter * c.filter * c.inChannels * multiplier);
      const dy = normals(7, c.batch * outHeight * outWidth * c.inChannels * multiplier);
      const dyShape: [number, number, number, number] = [c.batch, outHeight, outWidth, c.inChannels * multiplier];
      const common = { strides: c.stride, pad: c.pad, dilations: 1 };
      await expectPath('DepthwiseConv2dNativeBackpropFilter', 'fast', async () => {
        const error = await compare(() =>
          runKernel(
            'DepthwiseConv2dNativeBackpropFilter',
            { x: tf.tensor4d(x, [c.batch, c.height, c.width, c.inChannels]), dy: tf.tensor4d(dy, dyShape) },
            { ...common, filterShape: [c.filter, c.filter, c.inChannels, multiplier] },
          ),
        );
        expect(error).toBeLessThanOrEqual(tolerance);
      });
      await expectPath('DepthwiseConv2dNativeBackpropInput', 'fast', async () => {
        const error = await compare(() =>
          runKernel(
            'DepthwiseConv2dNativeBackpropInput',
            { dy: tf.tensor4d(dy, dyShape), filter: tf.tensor4d(filter, [c.filter, c.filter, c.inChannels, multiplier]) },
            { ...common, inputShape: [c.batch, c.height, c.width, c.inChannels] },
          ),
        );
        expect(error).toBeLessThanOrEqual(tolerance);
      });
    },
  );

  it.each([
    [1, [5], 7],
    [2, [40], 9],
    [3, [6, 4], 10],
    [4, [33], 1],
  ] as const)('UnsortedSegmentSum (seed %i, ids %j, %i segments) with repeated ids', async (seed, idShape, numSegments) => {
    const random = seededRandom(seed);
    const idDims: number[] = [...idShape];
    const dataDims: number[] = [...idShape, 3, 2];
    // Rank-2 ids are valid for the kernel though the op's type says Tensor1D.
    const idTensor = (): tf.Tensor => tf.tensor(ids, idDims, 'int32');
    const count = idDims.reduce((a, b) => a * b, 1);
    const ids = Int32Array.from({ length: count }, () => Math.floor(random() * numSegments));
    const inner = 6;
    const x = normals(seed + 20, count * inner);
    // Float64 oracle from the definition; cpu agrees for 1-D ids but its kernel cannot broadcast
    // rank-2 ids against the data, so the definition is the reference for every case.
    const expected = new Float64Array(numSegments * inner);
    ids.forEach((id, i) => {
      for (let j = 0; j < inner; j++) expected[id * inner + j]! += x[i * inner + j]!;
    });
    await expectPath('UnsortedSegmentSum', 'fast', async () => {
      const [actual] = await on('wasm', () =>
        tf.unsortedSegmentSum(tf.tensor(x, dataDims), idTensor() as tf.Tensor1D, numSegments),
      );
      expect(relativeError(actual!, expected)).toBeLessThanOrEqual(tolerance);
      if (idShape.length === 1) {
        const error = await compare(() =>
          tf.unsortedSegmentSum(tf.tensor(x, dataDims), idTensor() as tf.Tensor1D, numSegments),
        );
        expect(error).toBeLessThanOrEqual(tolerance);
      }
    });
  });
});

/**
 * Float64 oracle for a depthwise conv's gradients straight from the definition
 * y[b,oy,ox,c·M+m] = Σ_{ky,kx} x[b, oy·s + ky·d − pt, ox·s + kx·d − pl, c] · w[ky,kx,c,m].
 */
function depthwiseOracle(
  x: Float32Array,
  w: Float32Array,
  dy: Float32Array,
  [batch, height, width, channels]: number[],
  [kh, kw, , multiplier]: number[],
  [outHeight, outWidth]: number[],
  stride: number,
  dilation: number,
  padTop: number,
  padLeft: number,
): { dx: Float64Array; dw: Float64Array } {
  const dx = new Float64Array(x.length);
  const dw = new Float64Array(w.length);
  for (let b = 0; b < batch; b++)
    for (let oy = 0; oy < outHeight; oy++)
      for (let ox = 0; ox < outWidth; ox++)
        for (let ky = 0; ky < kh; ky++)
          for (let kx = 0; kx < kw; kx++) {
            const iy = oy * stride + ky * dilation - padTop;
            const ix = ox * stride + kx * dilation - padLeft;
            if (iy < 0 || iy >= height || ix < 0 || ix >= width) continue;
            for (let c = 0; c < channels; c++)
              for (let m = 0; m < multiplier; m++) {
                const g = dy[((b * outHeight + oy) * outWidth + ox) * channels * multiplier + c * multiplier + m]!;
                const xi = ((b * height + iy) * width + ix) * channels + c;
                const wi = ((ky * kw + kx) * channels + c) * multiplier + m;
                dw[wi]! += x[xi]! * g;
                dx[xi]! += w[wi]! * g;
              }
          }
  return { dx, dw };
}

describe('fallback paths stay correct', () => {
  const nchwCase = { batch: 2, channels: 3, height: 7, width: 6, outChannels: 4, filter: 3, stride: 2 };

  it('Conv2DBackpropFilter with NCHW data matches cpu (plain-JS fallback)', async () => {
    const c = nchwCase;
    const outHeight = outSize(c.height, c.filter, c.stride, 'same');
    const outWidth = outSize(c.width, c.filter, c.stride, 'same');
    const x = normals(30, c.batch * c.channels * c.height * c.width);
    const dy = normals(31, c.batch * c.outChannels * outHeight * outWidth);
    await expectPath('Conv2DBackpropFilter', 'fallback', async () => {
      const error = await compare(() =>
        runKernel(
          'Conv2DBackpropFilter',
          {
            x: tf.tensor4d(x, [c.batch, c.channels, c.height, c.width]),
            dy: tf.tensor4d(dy, [c.batch, c.outChannels, outHeight, outWidth]),
          },
          { filterShape: [c.filter, c.filter, c.channels, c.outChannels], strides: c.stride, pad: 'same', dataFormat: 'NCHW' },
        ),
      );
      expect(error).toBeLessThanOrEqual(tolerance);
    });
  });

  it('Conv2DBackpropInput with NCHW data matches cpu (wasm native fallback)', async () => {
    const c = nchwCase;
    const outHeight = outSize(c.height, c.filter, c.stride, 'same');
    const outWidth = outSize(c.width, c.filter, c.stride, 'same');
    const filter = normals(32, c.filter * c.filter * c.channels * c.outChannels);
    const dy = normals(33, c.batch * c.outChannels * outHeight * outWidth);
    await expectPath('Conv2DBackpropInput', 'fallback', async () => {
      const error = await compare(() =>
        runKernel(
          'Conv2DBackpropInput',
          {
            dy: tf.tensor4d(dy, [c.batch, c.outChannels, outHeight, outWidth]),
            filter: tf.tensor4d(filter, [c.filter, c.filter, c.channels, c.outChannels]),
          },
          { inputShape: [c.batch, c.channels, c.height, c.width], strides: c.stride, pad: 'same', dataFormat: 'NCHW' },
        ),
      );
      expect(error).toBeLessThanOrEqual(tolerance);
    });
  });

  it.each([
    ['asymmetric explicit padding (fast path)', [[0, 0], [1, 2], [0, 1], [0, 0]], 3, 2, 'fast'],
    ['explicit padding wider than the filter (fallback)', [[0, 0], [3, 1], [2, 3], [0, 0]], 2, 1, 'fallback'],
    ['numeric padding (fast path)', 1, 3, 2, 'fast'],
  ] as const)('%s matches cpu for both conv gradients', async (_, pad, filterSize, stride, inputPath) => {
    const [batch, height, width, inChannels, outChannels] = [3, 7, 8, 4, 5];
    const shape = tf.backend_util.computeConv2DInfo(
      [batch, height, width, inChannels],
      [filterSize, filterSize, inChannels, outChannels],
      stride,
      1,
      pad as tf.backend_util.ExplicitPadding,
    );
    const x = normals(34, batch * height * width * inChannels);
    const filter = normals(35, filterSize * filterSize * inChannels * outChannels);
    const dyShape: [number, number, number, number] = [batch, shape.outHeight, shape.outWidth, outChannels];
    const dy = normals(36, dyShape.reduce((a, b) => a * b, 1));
    await expectPath('Conv2DBackpropFilter', 'fast', async () => {
      const error = await compare(() =>
        runKernel(
          'Conv2DBackpropFilter',
          { x: tf.tensor4d(x, [batch, height, width, inChannels]), dy: tf.tensor4d(dy, dyShape) },
          { filterShape: [filterSize, filterSize, inChannels, outChannels], strides: stride, pad, dataFormat: 'NHWC' },
        ),
      );
      expect(error).toBeLessThanOrEqual(tolerance);
    });
    await expectPath('Conv2DBackpropInput', inputPath, async () => {
      const error = await compare(() =>
        runKernel(
          'Conv2DBackpropInput',
          { dy: tf.tensor4d(dy, dyShape), filter: tf.tensor4d(filter, [filterSize, filterSize, inChannels, outChannels]) },
          { inputShape: [batch, height, width, inChannels], strides: stride, pad, dataFormat: 'NHWC' },
        ),
      );
      expect(error).toBeLessThanOrEqual(tolerance);
    });
  });

  it('depthwise gradients with dilation 2 match a float64 oracle and the adjoint law', async () => {
    // The cpu backend's depthwise backprops index the input without the dilation, so the reference
    // here is the definition itself rather than cpu.
    const [batch, height, width, channels, multiplier, k, dilation] = [2, 9, 8, 3, 2, 3, 2];
    const outHeight = outSize(height, k, 1, 'same', dilation);
    const outWidth = outSize(width, k, 1, 'same', dilation);
    const padTop = Math.floor(Math.max(0, outHeight - 1 + (k - 1) * dilation + 1 - height) / 2);
    const padLeft = Math.floor(Math.max(0, outWidth - 1 + (k - 1) * dilation + 1 - width) / 2);
    const x = normals(40, batch * height * width * channels);
    const w = normals(41, k * k * channels * multiplier);
    const dy = normals(42, batch * outHeight * outWidth * channels * multiplier);
    const oracle = depthwiseOracle(
      x, w, dy, [batch, height, width, channels], [k, k, channels, multiplier], [outHeight, outWidth], 1, dilation, padTop, padLeft,
    );
    const xShape: [number, number, number, number] = [batch, height, width, channels];
    const wShape: [number, number, number, number] = [k, k, channels, multiplier];
    const dyShape: [number, number, number, number] = [batch, outHeight, outWidth, channels * multiplier];
    const attrs = { strides: 1, pad: 'same', dilations: dilation };
    let dw: Float32Array | undefined;
    let dx: Float32Array | undefined;
    await expectPath('DepthwiseConv2dNativeBackpropFilter', 'fallback', async () => {
      [dw] = await on('wasm', () =>
        runKernel('DepthwiseConv2dNativeBackpropFilter', { x: tf.tensor4d(x, xShape), dy: tf.tensor4d(dy, dyShape) }, { ...attrs, filterShape: wShape }),
      );
    });
    await expectPath('DepthwiseConv2dNativeBackpropInput', 'fallback', async () => {
      [dx] = await on('wasm', () =>
        runKernel('DepthwiseConv2dNativeBackpropInput', { dy: tf.tensor4d(dy, dyShape), filter: tf.tensor4d(w, wShape) }, { ...attrs, inputShape: xShape }),
      );
    });
    expect(relativeError(dw!, oracle.dw)).toBeLessThanOrEqual(tolerance);
    expect(relativeError(dx!, oracle.dx)).toBeLessThanOrEqual(tolerance);
    // ⟨conv(x, w), dy⟩ = ⟨w, dW⟩ = ⟨x, dX⟩ with wasm's own dilated forward conv.
    const [y] = await on('wasm', () => tf.depthwiseConv2d(tf.tensor4d(x, xShape), tf.tensor4d(w, wShape), 1, 'same', 'NHWC', dilation));
    const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((s, v, i) => s + v * b[i]!, 0);
    const forward = dot(y!, dy);
    expect(Math.abs(dot(w, dw!) - forward)).toBeLessThanOrEqual(1e-4 * Math.max(1, Math.abs(forward)));
    expect(Math.abs(dot(x, dx!) - forward)).toBeLessThanOrEqual(1e-4 * Math.max(1, Math.abs(forward)));
  });

  it('UnsortedSegmentSum drops out-of-range ids like cpu (plain-JS fallback)', async () => {
    const ids = Int32Array.from([0, -1, 2, 5, 2, 1, 7, 0]);
    const x = normals(43, ids.length * 4);
    await expectPath('UnsortedSegmentSum', 'fallback', async () => {
      const error = await compare(() => tf.unsortedSegmentSum(tf.tensor2d(x, [ids.length, 4]), tf.tensor1d(ids, 'int32'), 5));
      expect(error).toBeLessThanOrEqual(tolerance);
    });
  });
});

describe('large layers', () => {
  it('a weight gradient split into several GEMM blocks matches a float64 oracle', async () => {
    // 8·106·106 padded positions × 3·64 (kx, ci) rows exceeds the 16 Mi-element block bound, so
    // each filter row is computed in several blocks. Co = 1 keeps the oracle cheap.
    const [batch, size, channels, k] = [8, 104, 64, 3];
    const x = normals(80, batch * size * size * channels);
    const dy = normals(81, batch * size * size);
    const expected = new Float64Array(k * k * channels);
    for (let b = 0; b < batch; b++)
      for (let oy = 0; oy < size; oy++)
        for (let ox = 0; ox < size; ox++) {
          const g = dy[(b * size + oy) * size + ox]!;
          for (let ky = 0; ky < k; ky++) {
            const iy = oy + ky - 1;
            if (iy < 0 || iy >= size) continue;
            for (let kx = 0; kx < k; kx++) {
              const ix = ox + kx - 1;
              if (ix < 0 || ix >= size) continue;
              const from = ((b * size + iy) * size + ix) * channels;
              const to = (ky * k + kx) * channels;
              for (let c = 0; c < channels; c++) expected[to + c]! += x[from + c]! * g;
            }
          }
        }
    await expectPath('Conv2DBackpropFilter', 'fast', async () => {
      const [actual] = await on('wasm', () =>
        runKernel(
          'Conv2DBackpropFilter',
          { x: tf.tensor4d(x, [batch, size, size, channels]), dy: tf.tensor4d(dy, [batch, size, size, 1]) },
          { filterShape: [k, k, channels, 1], strides: 1, pad: 'same', dataFormat: 'NHWC' },
        ),
      );
      // Sums of ~86 000 products of unit normals: |sum| ~ 300, float32 rounding ~ 1e-7 relative.
      expect(relativeError(actual!, expected)).toBeLessThanOrEqual(tolerance);
    });
  });
});

describe('whole gradient paths: tf.grad on wasm matches cpu', () => {
  const image = (seed: number, shape: [number, number, number, number]) => tf.tensor4d(normals(seed, shape.reduce((a, b) => a * b, 1)), shape);
  // A loss that weighs every output differently, so a transposed or shifted gradient cannot pass.
  const weightedSum = (y: tf.Tensor) => tf.sum(tf.mul(y, tf.sin(tf.reshape(tf.range(0, y.size), y.shape))));

  it('conv2d (stride 2, same) → dx, dW', async () => {
    const error = await compare(() => {
      const x = image(50, [4, 9, 8, 5]);
      const w = image(51, [3, 3, 5, 6]);
      return tf.grads((a: tf.Tensor, b: tf.Tensor) => weightedSum(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'same')))([x, w]);
    });
    expect(error).toBeLessThanOrEqual(tolerance);
  });

  it('conv2dTranspose (stride 2, same) → dx, dW', async () => {
    const error = await compare(() => {
      const x = image(52, [3, 5, 4, 6]);
      const w = image(53, [4, 4, 3, 6]);
      return tf.grads((a: tf.Tensor, b: tf.Tensor) =>
        weightedSum(tf.conv2dTranspose(a as tf.Tensor4D, b as tf.Tensor4D, [3, 10, 8, 3], 2, 'same')),
      )([x, w]);
    });
    expect(error).toBeLessThanOrEqual(tolerance);
  });

  it('depthwiseConv2d (multiplier 2, stride 2, valid) → dx, dW', async () => {
    const error = await compare(() => {
      const x = image(54, [2, 9, 7, 4]);
      const w = image(55, [3, 3, 4, 2]);
      return tf.grads((a: tf.Tensor, b: tf.Tensor) => weightedSum(tf.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'valid')))([x, w]);
    });
    expect(error).toBeLessThanOrEqual(tolerance);
  });

  it('gather (embedding lookup with repeats) → d table', async () => {
    const ids = Int32Array.from([3, 1, 3, 0, 7, 3, 1]);
    const error = await compare(() => {
      const table = tf.tensor2d(normals(56, 8 * 5), [8, 5]);
      return tf.grad((t: tf.Tensor) => weightedSum(tf.gather(t, tf.tensor1d(ids, 'int32'))))(table);
    });
    expect(error).toBeLessThanOrEqual(tolerance);
  });
});

describe('registration', () => {
  it('is idempotent, wasm-only, and reversible', async () => {
    const warn = vi.spyOn(console, 'warn');
    const cpuKernels = trainingKernelNames.map((name) => tf.getKernel(name, 'cpu'));
    const first = trainingKernelNames.map((name) => tf.getKernel(name, 'wasm'));
    const status = registerTrainingKernels();
    expect(registerTrainingKernels()).toEqual(status);
    expect(trainingKernelNames.map((name) => tf.getKernel(name, 'wasm'))).toEqual(first);
    expect(trainingKernelNames.map((name) => tf.getKernel(name, 'cpu'))).toEqual(cpuKernels);
    expect(warn).not.toHaveBeenCalled();
    warn.mockRestore();
    for (const name of trainingKernelNames) expect(status[name].registered).toBe(true);
    expect(status.Conv2DBackpropInput.replacedOriginal).toBe(true);
    expect(status.Conv2DBackpropFilter.replacedOriginal).toBe(false);

    unregisterTrainingKernels();
    expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')).toBeUndefined();
    expect(tf.getKernel('Conv2DBackpropInput', 'wasm')).toBeDefined();
    expect(trainingKernelStatus().Conv2DBackpropInput.registered).toBe(false);
    registerTrainingKernels();
    expect(trainingKernelNames.map((name) => tf.getKernel(name, 'wasm'))).toEqual(first);

    // Still correct after the round trip.
    const error = await compare(() => {
      const x = tf.tensor4d(normals(60, 2 * 6 * 6 * 3), [2, 6, 6, 3]);
      const w = tf.tensor4d(normals(61, 3 * 3 * 3 * 4), [3, 3, 3, 4]);
      return tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.square(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'same'))))([x, w]);
    });
    expect(error).toBeLessThanOrEqual(tolerance);
  });

  it('explains when the wasm backend is not loaded', () => {
    const conv = tf.getKernel('Conv2D', 'wasm')!;
    tf.unregisterKernel('Conv2D', 'wasm');
    try {
      const error = (() => {
        try {
          registerTrainingKernels();
        } catch (e) {
          return e;
        }
        return undefined;
      })();
      expect(error).toBeInstanceOf(RuntimeError);
      expect((error as RuntimeError).code).toBe('wasm-not-loaded');
      expect((error as Error).message).toMatch(/registerTrainingKernels: the wasm backend must be loaded first/);
    } finally {
      tf.registerKernel(conv);
    }
  });

  it('leaves no tensors or wasm buffers behind', async () => {
    await tf.setBackend('wasm');
    const backend = tf.backend() as unknown as { numDataIds(): number };
    const x = tf.tensor4d(normals(70, 3 * 8 * 8 * 4), [3, 8, 8, 4]);
    const w = tf.tensor4d(normals(71, 3 * 3 * 4 * 6), [3, 3, 4, 6]);
    const dw = tf.tensor4d(normals(72, 3 * 3 * 4 * 2), [3, 3, 4, 2]);
    const table = tf.tensor2d(normals(73, 10 * 3), [10, 3]);
    const ids = tf.tensor1d([1, 4, 4, 9], 'int32');
    const tensors = tf.memory().numTensors;
    const buffers = backend.numDataIds();
    for (let i = 0; i < 2; i++) {
      const results = tf.tidy(() => [
        ...tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'same')))([x, w]),
        ...tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'valid')))([x, dw]),
        ...tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.conv2dTranspose(a as tf.Tensor4D, b as tf.Tensor4D, [3, 16, 16, 4], 2, 'same')))([
          x,
          tf.tensor4d(normals(74, 3 * 3 * 4 * 4), [3, 3, 4, 4]),
        ]),
        tf.grad((t: tf.Tensor) => tf.sum(tf.gather(t, ids)))(table),
        tf.unsortedSegmentSum(table, tf.tensor1d([0, 1, 1, 2, 2, 2, 3, 3, 3, 3], 'int32'), 4),
        tf.unsortedSegmentSum(table, tf.tensor1d([0, -1, 1, 2, 2, 9, 3, 3, 3, 3], 'int32'), 4),
        runKernel('DepthwiseConv2dNativeBackpropFilter', { x, dy: tf.tensor4d(normals(75, 3 * 8 * 8 * 8), [3, 8, 8, 8]) }, {
          strides: 1,
          pad: 'same',
          dilations: 2,
          filterShape: [3, 3, 4, 2],
        }),
      ]);
      for (const r of results) await r.data();
      tf.dispose(results);
    }
    expect(tf.memory().numTensors).toBe(tensors);
    expect(backend.numDataIds()).toBe(buffers);
  });
});

describe('fused layer kernels: @gq/nn on wasm (one kernel each way) matches its tfjs-op composition on cpu', () => {
  /*
   * cpu has no fused kernels, so there @gq/nn composes tfjs-core ops: an independent float32
   * implementation of the same layer. Cases cover the SIMD path (C a multiple of 4, ≥ 8 rows per
   * sample) and the plain-loop path (odd C, LayerNorm's one-row slices). Statistics are float64 on
   * wasm and float32 on cpu; outputs and gradients are O(1) sums of ≤ a few thousand terms, so the
   * same 1e-5 bound applies (measured ≤ 3e-6). A wrong group, channel or term is off by O(1).
   */
  const normCases = [
    { shape: [2, 8, 8, 16], groups: 4 },
    { shape: [3, 4, 4, 32], groups: 32 },
    { shape: [1, 16, 8, 8], groups: 1 },
    { shape: [2, 5, 5, 6], groups: 2 },
    { shape: [4, 3, 3, 12], groups: 3 },
    { shape: [2, 32, 32, 16], groups: 16 },
  ] as const;
  const activations = ['silu', 'linear'] as const;

  const affine = (c: number, seed: number): [tf.Tensor1D, tf.Tensor1D] => [
    tf.tensor1d(normals(seed, c).map((v) => 1 + 0.3 * v)),
    tf.tensor1d(normals(seed + 1, c).map((v) => 0.5 * v)),
  ];

  it.each(normCases.flatMap((c) => activations.map((activation) => [`${c.shape.join('×')} G${c.groups}`, activation, c] as const)))(
    'groupNorm %s %s: output and gradients for x, γ, β',
    async (_, activation, { shape, groups }) => {
      const size = shape.reduce((a: number, b: number) => a * b, 1);
      // An offset mean checks that the statistics do not cancel.
      const x = normals(80, size).map((v) => 3 + 2 * v);
      const dy = normals(81, size);
      await expectPath(normKernelName, 'fast', async () => {
        const error = await compare(() => {
          const input = tf.tensor4d(x, [...shape]);
          const [gamma, beta] = affine(shape[3], 82);
          const upstream = tf.tensor4d(dy, [...shape]);
          const run = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor): tf.Tensor =>
            groupNorm(a as tf.Tensor4D, g as tf.Tensor1D, b as tf.Tensor1D, groups, 1e-6, { activation });
          return [run(input, gamma, beta), ...tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(run(a, g, b), upstream)))([input, gamma, beta])];
        });
        expect(error).toBeLessThanOrEqual(tolerance);
      });
    },
  );

  it('groupNorm SiLU gradient where the normalised value is exactly 0 (σ = ½ there, not y/n = 0/0)', async () => {
    // Every channel runs (−a, 0, 0, a) over its positions (a = 1 + channel mod 5), so each group's
    // mean is exactly 0, and β = 0: n = x·a + b is exactly 0 wherever x is, where the gradient takes
    // σ(0) = ½ from its rule rather than y/n = 0/0.
    const shape = [2, 8, 8, 16] as const;
    const size = 2 * 8 * 8 * 16;
    const x = Float32Array.from({ length: size }, (_, i) => [-1, 0, 0, 1][Math.floor(i / 16) % 4]! * (1 + ((i % 16) % 5)));
    const dy = normals(90, size);
    await expectPath(normGradKernelName, 'fast', async () => {
      const error = await compare(() => {
        const input = tf.tensor4d(x, [...shape]);
        const gamma = tf.tensor1d(normals(91, 16).map((v) => 1 + 0.3 * v));
        const beta = tf.zeros([16]) as tf.Tensor1D;
        const upstream = tf.tensor4d(dy, [...shape]);
        const run = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor): tf.Tensor => groupNorm(a as tf.Tensor4D, g as tf.Tensor1D, b as tf.Tensor1D, 4, 1e-6, { activation: 'silu' });
        const grads = tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(run(a, g, b), upstream)))([input, gamma, beta]);
        return [run(input, gamma, beta), ...grads];
      });
      expect(error).toBeLessThanOrEqual(tolerance);
    });
  });

  it.each([
    [[4, 7, 32]],
    [[3, 5]],
  ] as const)('layerNorm %j: output and gradients for x, γ, β', async (shape) => {
    const size = shape.reduce((a: number, b: number) => a * b, 1);
    const x = normals(83, size);
    const dy = normals(84, size);
    const channels = shape[shape.length - 1]!;
    await expectPath(normGradKernelName, 'fast', async () => {
      const error = await compare(() => {
        const input = tf.tensor(x, [...shape]);
        const [gamma, beta] = affine(channels, 85);
        const upstream = tf.tensor(dy, [...shape]);
        const run = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor): tf.Tensor => layerNorm(a, g as tf.Tensor1D, b as tf.Tensor1D, 1e-5);
        return [run(input, gamma, beta), ...tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(run(a, g, b), upstream)))([input, gamma, beta])];
      });
      expect(error).toBeLessThanOrEqual(tolerance);
    });
  });

  it.each([[[2, 3, 5, 4]], [[2, 4, 6, 8]], [[1, 4, 4, 3]]] as const)('upsampleNearest2x %j: output exact, gradient as cpu', async (shape) => {
    const size = shape.reduce((a: number, b: number) => a * b, 1);
    const x = normals(86, size);
    const dy = normals(87, size * 4);
    await expectPath(upsampleGradKernelName, 'fast', async () => {
      const build = (): tf.Tensor[] => {
        const input = tf.tensor4d(x, [...shape]);
        const upstream = tf.tensor4d(dy, [shape[0], 2 * shape[1], 2 * shape[2], shape[3]]);
        return [upsampleNearest2x(input), tf.grad((a: tf.Tensor) => tf.sum(tf.mul(upsampleNearest2x(a as tf.Tensor4D), upstream)))(input)];
      };
      const [expectedUp, expectedGrad] = await on('cpu', build);
      const [actualUp, actualGrad] = await on('wasm', build);
      expect(actualUp).toEqual(expectedUp);
      expect(relativeError(actualGrad!, expectedGrad!)).toBeLessThanOrEqual(tolerance);
    });
  });

  // Batch-1 products without transposes run on the SIMD GEMM unless the output is narrow with a
  // scalar column tail (n mod 4 ≠ 0 and n < 16), which passes straight through to wasm's kernel.
  it.each([
    [[37, 19], [37, 23], true, false, 'fast'],
    [[19, 37], [23, 37], false, true, 'fast'],
    [[19, 37], [37, 23], false, false, 'fast'],
    [[19, 37], [37, 7], false, false, 'fallback'],
    [[37, 19], [23, 37], true, true, 'fast'],
    [[3, 2, 9, 5], [3, 2, 9, 7], true, false, 'fast'],
    [[6, 9, 5], [6, 7, 5], false, true, 'fast'],
  ] as const)('BatchMatMul %j × %j (transposeA %s, transposeB %s): %s path, as cpu', async (aShape, bShape, transposeA, transposeB, path) => {
    const a = normals(92, aShape.reduce((x: number, y: number) => x * y, 1));
    const b = normals(93, bShape.reduce((x: number, y: number) => x * y, 1));
    await expectPath('BatchMatMul', path, async () => {
      const error = await compare(() => tf.matMul(tf.tensor(a, [...aShape]), tf.tensor(b, [...bShape]), transposeA, transposeB));
      expect(error).toBeLessThanOrEqual(tolerance);
    });
  });

  it('registerTrainingKernels({ fused: false }) leaves the layers to tfjs ops, and back', async () => {
    registerTrainingKernels({ fused: false });
    try {
      for (const name of fusedKernelNames) expect(tf.getKernel(name, 'wasm')).toBeUndefined();
      expect(trainingKernelStatus().BatchMatMul.registered).toBe(false);
      expect(tf.getKernel('BatchMatMul', 'wasm')).toBeDefined();
      expect(trainingKernelStatus().Conv2DBackpropFilter.registered).toBe(true);
      const before = calls(normKernelName).fast;
      await on('wasm', () => groupNorm(tf.ones([1, 2, 2, 4]) as tf.Tensor4D, tf.ones([4]) as tf.Tensor1D, tf.zeros([4]) as tf.Tensor1D, 2, 1e-6));
      expect(calls(normKernelName).fast).toBe(before);
    } finally {
      registerTrainingKernels();
    }
    for (const name of layerKernelNames) expect(trainingKernelStatus()[name].registered).toBe(true);
  });

  it('leave no tensors or wasm buffers behind', async () => {
    await tf.setBackend('wasm');
    const backend = tf.backend() as unknown as { numDataIds(): number };
    const x = tf.tensor4d(normals(88, 2 * 8 * 8 * 16), [2, 8, 8, 16]);
    const [gamma, beta] = affine(16, 89);
    const tensors = tf.memory().numTensors;
    const buffers = backend.numDataIds();
    for (let i = 0; i < 2; i++) {
      const results = tf.tidy(() => [
        groupNorm(x, gamma, beta, 4, 1e-6, { activation: 'silu' }),
        ...tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) =>
          tf.sum(groupNorm(a as tf.Tensor4D, g as tf.Tensor1D, b as tf.Tensor1D, 4, 1e-6, { activation: 'silu' })),
        )([x, gamma, beta]),
        tf.grad((a: tf.Tensor) => tf.sum(upsampleNearest2x(a as tf.Tensor4D)))(x),
      ]);
      for (const r of results) await r.data();
      tf.dispose(results);
    }
    expect(tf.memory().numTensors).toBe(tensors);
    expect(backend.numDataIds()).toBe(buffers);
    tf.dispose([x, gamma, beta]);
  });
});

describe('profileKernels', () => {
  it('counts and times every kernel call once, charges nested kernels to the outermost, and restores the registry', async () => {
    await tf.setBackend('wasm');
    const original = tf.getKernel('Conv2DBackpropFilter', 'wasm');
    const add = tf.getKernel('Add', 'wasm');
    const profile = profileKernels();
    try {
      const x = tf.tensor4d(normals(90, 2 * 6 * 6 * 3), [2, 6, 6, 3]);
      const w = tf.tensor4d(normals(91, 3 * 3 * 3 * 4), [3, 3, 3, 4]);
      for (let i = 0; i < 3; i++) tf.dispose(tf.add(x, x));
      const grads = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'same')))([x, w]);
      await Promise.all(grads.map((g) => g.data()));
      tf.dispose([x, w, ...grads]);
      const rows = profile.read();
      const byName = new Map(rows.map((r) => [r.kernel, r]));
      expect(byName.get('Add')?.calls).toBe(3);
      expect(byName.get('Conv2DBackpropFilter')?.calls).toBe(1);
      // The weight gradient runs Transpose, PadV2, … directly; those are charged to it, not counted.
      expect(byName.get('PadV2')).toBeUndefined();
      for (const r of rows) expect(r.ms).toBeGreaterThanOrEqual(0);
      // Multiply–adds: the forward conv and both gradients each do N·H·W·Co·kh·kw·Ci = 2·6·6·4·3·3·3 of them.
      const macs = 2 * 6 * 6 * 4 * 3 * 3 * 3;
      for (const kernel of ['Conv2D', 'Conv2DBackpropFilter', 'Conv2DBackpropInput']) expect(byName.get(kernel)?.flops).toBe(2 * macs);
      expect(byName.get('Add')?.flops).toBe(0);
      const convMs = rows.filter((r) => convolutionKernelNames.has(r.kernel)).reduce((s, r) => s + r.ms, 0);
      const total = rows.reduce((s, r) => s + r.ms, 0);
      expect(convolutionShare(rows)).toBeCloseTo(convMs / total, 12);
      profile.reset();
      expect(profile.read()).toEqual([]);
    } finally {
      profile.stop();
    }
    expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')).toBe(original);
    expect(tf.getKernel('Add', 'wasm')).toBe(add);
    profile.stop();
  });

  it('counts the floating-point operations of matrix products, transposed or not, and of depthwise convolutions', async () => {
    await tf.setBackend('wasm');
    const profile = profileKernels();
    try {
      const a = tf.tensor3d(normals(92, 3 * 5 * 7), [3, 5, 7]);
      const b = tf.tensor3d(normals(93, 3 * 7 * 2), [3, 7, 2]);
      const at = tf.tensor3d(normals(94, 3 * 7 * 5), [3, 7, 5]);
      const x = tf.tensor4d(normals(95, 1 * 5 * 5 * 3), [1, 5, 5, 3]);
      const w = tf.tensor4d(normals(96, 3 * 3 * 3 * 2), [3, 3, 3, 2]);
      tf.dispose([tf.matMul(a, b), tf.matMul(at, b, true, false), tf.depthwiseConv2d(x, w, 1, 'valid')]);
      const byName = new Map(profile.read().map((r) => [r.kernel, r]));
      // Two products of 3 batches of [5, 7]·[7, 2]: 2 · 3·5·2 · 7 each.
      expect(byName.get('BatchMatMul')).toMatchObject({ calls: 2, flops: 2 * (2 * 3 * 5 * 2 * 7) });
      // A 3×3 valid depthwise conv of 5×5×3 with multiplier 2: 3·3 outputs × 6 channels × 9 taps.
      expect(byName.get('DepthwiseConv2dNative')?.flops).toBe(2 * 3 * 3 * 6 * 9);
      tf.dispose([a, b, at, x, w]);
    } finally {
      profile.stop();
    }
  });
});
