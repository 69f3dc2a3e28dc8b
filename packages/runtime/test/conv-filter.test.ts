import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { ensureGradients, registerTrainingKernels, useBackend } from '@gq/runtime';
import { trainingKernelStatus } from '@gq/runtime/internal';
import { seededNormal } from '@gq/test-utils';
import { normals, relativeError } from './helpers/numeric.js';

/*
 * The wasm weight gradient (Conv2DBackpropFilter's fast path: exact output positions, one GEMM
 * per chunk of positions over all filter taps, strides as phase planes) against a float64
 * oracle of the definition. The chunk bound is 1 Mi left-hand elements (kh·kw·Ci rows × chunk
 * positions), so the 'several chunks' shapes below have kh·kw·Ci·positions a little above 1 Mi or
 * 2 Mi, with chunk sizes that divide neither the positions nor an image row.
 */

type Pad = 'same' | 'valid' | number;

interface Case {
  readonly name: string;
  readonly batch: number;
  readonly height: number;
  readonly width: number;
  readonly inChannels: number;
  readonly outChannels: number;
  readonly filter: [number, number];
  readonly stride: [number, number];
  readonly pad: Pad;
}



function convInfo(c: Case): tf.backend_util.Conv2DInfo {
  return tf.backend_util.computeConv2DInfo(
    [c.batch, c.height, c.width, c.inChannels],
    [c.filter[0], c.filter[1], c.inChannels, c.outChannels],
    c.stride,
    1,
    c.pad as 'same' | 'valid' | number,
  );
}

/** dW[ky, kx, ci, co] = Σ_{b, oy, ox} x[b, oy·sh + ky − top, ox·sw + kx − left, ci] · dy[b, oy, ox, co], in float64. */
function oracle(c: Case, info: tf.backend_util.Conv2DInfo, x: Float32Array, dy: Float32Array): Float64Array {
  const [kh, kw] = c.filter;
  const { inChannels: ci, outChannels: co } = c;
  const out = new Float64Array(kh * kw * ci * co);
  for (let b = 0; b < c.batch; b++) {
    for (let oy = 0; oy < info.outHeight; oy++) {
      for (let ox = 0; ox < info.outWidth; ox++) {
        const grad = ((b * info.outHeight + oy) * info.outWidth + ox) * co;
        for (let ky = 0; ky < kh; ky++) {
          const iy = oy * c.stride[0] + ky - info.padInfo.top;
          if (iy < 0 || iy >= c.height) continue;
          for (let kx = 0; kx < kw; kx++) {
            const ix = ox * c.stride[1] + kx - info.padInfo.left;
            if (ix < 0 || ix >= c.width) continue;
            const input = ((b * c.height + iy) * c.width + ix) * ci;
            const tap = (ky * kw + kx) * ci * co;
            for (let i = 0; i < ci; i++) {
              const v = x[input + i]!;
              const row = tap + i * co;
              for (let o = 0; o < co; o++) out[row + o]! += v * dy[grad + o]!;
            }
          }
        }
      }
    }
  }
  return out;
}

const fastCalls = (): number => trainingKernelStatus().Conv2DBackpropFilter.fastCalls;

/** Run the kernel on wasm, check it took the fast path and left no tensor or backend buffer behind. */
async function wasmGradient(c: Case, info: tf.backend_util.Conv2DInfo, x: Float32Array, dy: Float32Array): Promise<Float32Array> {
  const backend = tf.backend() as unknown as { numDataIds(): number };
  const tensors = tf.memory().numTensors;
  const buffers = backend.numDataIds();
  const calls = fastCalls();
  const xs = tf.tensor4d(x, [c.batch, c.height, c.width, c.inChannels]);
  const dys = tf.tensor4d(dy, [c.batch, info.outHeight, info.outWidth, c.outChannels]);
  const dw = tf.engine().runKernel('Conv2DBackpropFilter', { x: xs, dy: dys }, {
    filterShape: [c.filter[0], c.filter[1], c.inChannels, c.outChannels],
    strides: c.stride,
    pad: c.pad,
    dataFormat: 'NHWC',
  } as unknown as tf.NamedAttrMap) as tf.Tensor;
  const values = Float32Array.from(await dw.data());
  tf.dispose([xs, dys, dw]);
  expect(fastCalls() - calls, 'fast-path calls').toBe(1);
  expect(tf.memory().numTensors, 'tensors').toBe(tensors);
  expect(backend.numDataIds(), 'backend buffers').toBe(buffers);
  return values;
}

const cases: Case[] = [
  // One chunk.
  { name: 'one chunk, 3×3 same, stride 1', batch: 3, height: 9, width: 7, inChannels: 5, outChannels: 4, filter: [3, 3], stride: [1, 1], pad: 'same' },
  { name: 'one chunk, 1×1 valid, stride 1 (planes used directly)', batch: 2, height: 6, width: 5, inChannels: 7, outChannels: 3, filter: [1, 1], stride: [1, 1], pad: 'valid' },
  { name: 'one chunk, 3×3 valid, stride 2, odd input', batch: 2, height: 11, width: 9, inChannels: 4, outChannels: 6, filter: [3, 3], stride: [2, 2], pad: 'valid' },
  { name: 'one chunk, 4×4 same, stride 2 (asymmetric padding)', batch: 2, height: 8, width: 10, inChannels: 3, outChannels: 2, filter: [4, 4], stride: [2, 2], pad: 'same' },
  { name: 'one chunk, 3×3 numeric padding 2, stride 1', batch: 2, height: 5, width: 6, inChannels: 3, outChannels: 2, filter: [3, 3], stride: [1, 1], pad: 2 },
  { name: 'one chunk, 1×1 numeric padding 1, stride 2 (taps reading only padding)', batch: 2, height: 7, width: 6, inChannels: 3, outChannels: 2, filter: [1, 1], stride: [2, 2], pad: 1 },
  { name: 'one chunk, 3×2 filter, strides [1, 2]', batch: 3, height: 7, width: 9, inChannels: 4, outChannels: 3, filter: [3, 2], stride: [1, 2], pad: 'same' },
  { name: 'one chunk, 1×1 input, 3×3 same', batch: 4, height: 1, width: 1, inChannels: 3, outChannels: 2, filter: [3, 3], stride: [1, 1], pad: 'same' },
  // Several chunks (positions P on the grid, rows = kh·kw·Ci; chunk = ⌈P / ⌈rows·P / 1 Mi⌉⌉):
  // 144 rows × 5·37·41 = 7585 positions → 2 chunks of 3793 and 3792, split mid-image and mid-row.
  { name: 'two chunks, 3×3 same, stride 1', batch: 5, height: 37, width: 41, inChannels: 16, outChannels: 3, filter: [3, 3], stride: [1, 1], pad: 'same' },
  // 16 rows × 3·289·255 = 221 085 positions → 4 chunks of 55 272, the last 55 269.
  { name: 'four chunks, 1×1 valid, stride 1', batch: 3, height: 289, width: 255, inChannels: 16, outChannels: 2, filter: [1, 1], stride: [1, 1], pad: 'valid' },
  // 216 rows × 5·29·35 = 5075 phase-grid positions → 2 chunks of 2538 and 2537.
  { name: 'two chunks, 3×3 same, stride 2', batch: 5, height: 57, width: 69, inChannels: 24, outChannels: 2, filter: [3, 3], stride: [2, 2], pad: 'same' },
  // The phase grid (23×27) is a row and a column larger than the output (22×26): 360 rows × 3105
  // positions → 2 chunks of 1553 and 1552.
  { name: 'two chunks, 3×3 valid, stride 2, grid larger than the output', batch: 5, height: 45, width: 53, inChannels: 40, outChannels: 3, filter: [3, 3], stride: [2, 2], pad: 'valid' },
];

beforeAll(async () => {
  await useBackend('cpu');
  await useBackend('wasm');
  await ensureGradients();
  registerTrainingKernels();
});

describe('Conv2DBackpropFilter on wasm matches a float64 oracle', () => {
  it.each(cases.map((c) => [c.name, c] as const))('%s', async (_, c) => {
    const info = convInfo(c);
    const x = normals(1 + c.height, c.batch * c.height * c.width * c.inChannels);
    const dy = normals(2 + c.width, c.batch * info.outHeight * info.outWidth * c.outChannels);
    const actual = await wasmGradient(c, info, x, dy);
    // Sums of up to ~220 000 products of unit normals: float32 rounding stays ~1e-7 of the scale.
    expect(relativeError(actual, oracle(c, info, x, dy))).toBeLessThanOrEqual(1e-5);
  });

  it('repeated calls on one input leave the tensor and buffer counts unchanged', async () => {
    const c = cases.find((k) => k.name.startsWith('two chunks, 3×3 same, stride 1'))!;
    const info = convInfo(c);
    const x = normals(7, c.batch * c.height * c.width * c.inChannels);
    const dy = normals(8, c.batch * info.outHeight * info.outWidth * c.outChannels);
    const first = await wasmGradient(c, info, x, dy);
    const second = await wasmGradient(c, info, x, dy);
    expect(Array.from(second)).toEqual(Array.from(first));
  });
});
