import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { ensureGradients, registerTrainingKernels, useBackend } from '@gq/runtime';
import { trainingKernelStatus } from '@gq/runtime/internal';
import { layerNorm } from '@gq/nn';
import { normGradKernelName, normKernelName, type NormActivation } from '@gq/nn/internal';
import { seededNormal } from '@gq/test-utils';
import { normals, relativeError } from './helpers/numeric.js';

/*
 * LayerNorm's fused kernels on wasm ([N, 1, C] slices, one group: the one-call SIMD row path when
 * C is a multiple of 4) against a float64 oracle and against @gq/nn's tfjs-op composition on cpu.
 *
 * Two oracles. `exact` is LayerNorm in float64 from the float32 inputs. `contract` follows the
 * kernel's documented contract: the mean and rstd it returns are float32 (fround of the float64
 * statistics, the variance taken about the rounded mean), and x̂ = (x − μ)·r uses those. At a mean
 * of 1e3 with a standard deviation of 1e-2 the float32 mean alone moves x̂ by up to
 * ulp(1e3)/2·r ≈ 3e-3, so the wasm kernel is held to the contract oracle at float32 precision
 * (every output is an O(1) value or a sum of at most 2048 O(1) terms: ≤ 1e-5 relative to
 * max(1, max|expected|), measured ≤ 3e-7), and to the exact oracle no worse than the float32
 * composite on cpu. A statistic with cancellation (E[x²] − E[x]²) or an affine map of the raw
 * x (x·rγ + (β − μrγ), 1e5-sized terms at that offset) misses the contract oracle by ≥ 1e-3.
 */

const tolerance = 1e-5;
const eps = 1e-5;



interface LayerNormResult {
  readonly y: ArrayLike<number>;
  readonly dx: ArrayLike<number>;
  readonly dGamma: ArrayLike<number>;
  readonly dBeta: ArrayLike<number>;
}

interface OracleResult extends LayerNormResult {
  readonly mean: Float64Array;
  readonly rstd: Float64Array;
}

interface Case {
  readonly x: Float32Array;
  readonly gamma: Float32Array;
  readonly beta: Float32Array;
  readonly dy: Float32Array;
  readonly rows: number;
  readonly channels: number;
}

const sigmoid = (n: number): number => 1 / (1 + Math.exp(-n));

/** Row statistics to use instead of computing them: the float32 mean and rstd a kernel returned. */
interface Statistics {
  readonly mean: ArrayLike<number>;
  readonly rstd: ArrayLike<number>;
}

/**
 * LayerNorm and its gradients for the loss Σ y·dy, in float64. `statistics`: false computes them
 * exactly; true rounds them to float32 as the kernel's contract says (variance about the rounded
 * mean) before use; given values are used as they are.
 */
function oracle({ x, gamma, beta, dy, rows, channels }: Case, activation: NormActivation, statistics: boolean | Statistics): OracleResult {
  const round = (v: number): number => (statistics === false ? v : Math.fround(v));
  const given = typeof statistics === 'object' ? statistics : undefined;
  const y = new Float64Array(x.length);
  const dx = new Float64Array(x.length);
  const dGamma = new Float64Array(channels);
  const dBeta = new Float64Array(channels);
  const means = new Float64Array(rows);
  const rstds = new Float64Array(rows);
  const xHat = new Float64Array(channels);
  const dn = new Float64Array(channels);
  for (let row = 0; row < rows; row++) {
    const o = row * channels;
    let sum = 0;
    for (let c = 0; c < channels; c++) sum += x[o + c]!;
    const mean = given?.mean[row] ?? round(sum / channels);
    let squares = 0;
    for (let c = 0; c < channels; c++) squares += (x[o + c]! - mean) ** 2;
    const r = given?.rstd[row] ?? round(1 / Math.sqrt(squares / channels + eps));
    means[row] = mean;
    rstds[row] = r;
    let sumU = 0;
    let sumUXHat = 0;
    for (let c = 0; c < channels; c++) {
      xHat[c] = (x[o + c]! - mean) * r;
      const n = xHat[c]! * gamma[c]! + beta[c]!;
      const s = sigmoid(n);
      y[o + c] = activation === 'silu' ? n * s : n;
      dn[c] = activation === 'silu' ? dy[o + c]! * s * (1 + n * (1 - s)) : dy[o + c]!;
      sumU += dn[c]! * gamma[c]!;
      sumUXHat += dn[c]! * gamma[c]! * xHat[c]!;
      dGamma[c] += dn[c]! * xHat[c]!;
      dBeta[c] += dn[c]!;
    }
    for (let c = 0; c < channels; c++) {
      dx[o + c] = r * (dn[c]! * gamma[c]! - sumU / channels - (xHat[c]! * sumUXHat) / channels);
    }
  }
  return { y, dx, dGamma, dBeta, mean: means, rstd: rstds };
}

function makeCase(rows: number, channels: number, seed: number, mean = 0, sd = 1): Case {
  return {
    x: normals(seed, rows * channels, mean, sd),
    gamma: normals(seed + 1, channels, 1, 0.3),
    beta: normals(seed + 2, channels, 0, 0.5),
    dy: normals(seed + 3, rows * channels),
    rows,
    channels,
  };
}

/** @gq/nn's layerNorm on `backend` (fused kernels on wasm, tfjs ops on cpu): y and the gradients of Σ y·dy. */
async function layerNormOn(backend: 'cpu' | 'wasm', { x, gamma, beta, dy, rows, channels }: Case): Promise<LayerNormResult> {
  await tf.setBackend(backend);
  const before = tf.memory().numTensors;
  const outputs = tf.tidy(() => {
    const input = tf.tensor2d(x, [rows, channels]);
    const scale = tf.tensor1d(gamma);
    const shift = tf.tensor1d(beta);
    const upstream = tf.tensor2d(dy, [rows, channels]);
    const run = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor): tf.Tensor => layerNorm(a, g as tf.Tensor1D, b as tf.Tensor1D, eps);
    return [run(input, scale, shift), ...tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(run(a, g, b), upstream)))([input, scale, shift])];
  });
  const [y, dx, dGamma, dBeta] = await Promise.all(outputs.map(async (t) => Float32Array.from(await t.data())));
  tf.dispose(outputs);
  expect(tf.memory().numTensors, `tensors left on ${backend}`).toBe(before);
  return { y: y!, dx: dx!, dGamma: dGamma!, dBeta: dBeta! };
}

/** The fused kernels run directly (any activation): y, mean, rstd, then dx, dγ, dβ for `dy`. */
async function kernelsOnWasm({ x, gamma, beta, dy, rows, channels }: Case, activation: NormActivation): Promise<Float32Array[]> {
  await tf.setBackend('wasm');
  const attrs = { groups: 1, eps, activation } as unknown as tf.NamedAttrMap;
  const outputs = tf.tidy(() => {
    const input = tf.tensor3d(x, [rows, 1, channels]);
    const scale = tf.tensor1d(gamma);
    const shift = tf.tensor1d(beta);
    const forward = tf.engine().runKernel(normKernelName, { x: input, gamma: scale, beta: shift }, attrs) as tf.Tensor[];
    const [, mean, rstd] = forward as [tf.Tensor, tf.Tensor, tf.Tensor];
    const upstream = tf.tensor3d(dy, [rows, 1, channels]);
    const backward = tf.engine().runKernel(normGradKernelName, { dy: upstream, x: input, gamma: scale, beta: shift, mean, rstd }, attrs) as tf.Tensor[];
    return [...forward, ...backward];
  });
  const values = await Promise.all(outputs.map(async (t) => Float32Array.from(await t.data())));
  tf.dispose(outputs);
  return values;
}

function errors(actual: LayerNormResult, expected: LayerNormResult): Record<keyof LayerNormResult, number> {
  return {
    y: relativeError(actual.y, expected.y),
    dx: relativeError(actual.dx, expected.dx),
    dGamma: relativeError(actual.dGamma, expected.dGamma),
    dBeta: relativeError(actual.dBeta, expected.dBeta),
  };
}

/** Calls of the fused forward and gradient kernels so far. */
function fusedCalls(): [number, number] {
  const status = trainingKernelStatus();
  return [status[normKernelName].fastCalls, status[normGradKernelName].fastCalls];
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

describe('layerNorm on wasm (fused GqNorm/GqNormGrad, one-row slices) against float64 and the cpu composition', () => {
  const shapes = [4, 12, 128, 516].flatMap((channels) => [1, 3, 2048].map((rows) => [rows, channels] as const));

  it.each(shapes)('%i rows × C %i: y, dx, dγ, dβ as the float64 oracle and as cpu', async (rows, channels) => {
    const data = makeCase(rows, channels, 10 + channels + rows);
    const [forward, gradient] = fusedCalls();
    const wasm = await layerNormOn('wasm', data);
    // y, then the forward again under tf.grads and its gradient.
    expect(fusedCalls(), 'fused kernel calls').toEqual([forward + 2, gradient + 1]);
    const cpu = await layerNormOn('cpu', data);
    for (const [what, error] of Object.entries(errors(wasm, oracle(data, 'linear', false)))) expect(error, `${what} vs float64`).toBeLessThanOrEqual(tolerance);
    for (const [what, error] of Object.entries(errors(wasm, cpu))) expect(error, `${what} vs cpu`).toBeLessThanOrEqual(tolerance);
  });

  it.each([
    [2048, 128],
    [3, 516],
    [1, 12],
  ])('mean 1e3, sd 1e-2, %i rows × C %i: no cancellation; at least as accurate as the cpu composition', async (rows, channels) => {
    const data = makeCase(rows, channels, 40 + channels, 1e3, 1e-2);
    const wasm = await layerNormOn('wasm', data);
    const cpu = await layerNormOn('cpu', data);
    for (const [what, error] of Object.entries(errors(wasm, oracle(data, 'linear', true)))) expect(error, `${what} vs contract`).toBeLessThanOrEqual(tolerance);
    const exact = oracle(data, 'linear', false);
    const wasmErrors = errors(wasm, exact);
    const cpuErrors = errors(cpu, exact);
    for (const what of ['y', 'dx', 'dGamma', 'dBeta'] as const) {
      expect(wasmErrors[what], `${what}: wasm ${wasmErrors[what]} vs cpu ${cpuErrors[what]}`).toBeLessThanOrEqual(Math.max(cpuErrors[what], tolerance));
    }
  });

  it.each([
    [5, 4, 'linear', 0, 1],
    [2048, 128, 'linear', 1e3, 1e-2],
    [3, 516, 'silu', 0, 1],
    [2048, 128, 'silu', 2, 3],
    [70, 12, 'silu', 1e3, 1e-2],
  ] as const)('kernels directly, %i rows × C %i %s (mean %d, sd %d): mean and rstd to an ulp, outputs as the contract', async (rows, channels, activation, mean, sd) => {
    const data = makeCase(rows, channels, 60 + rows, mean, sd);
    const [y, means, rstds, dx, dGamma, dBeta] = await kernelsOnWasm(data, activation);
    const exact = oracle(data, activation, false);
    /** The spacing of float32 values at |v| (v not 0). */
    const ulp = (v: number): number => 2 ** (Math.floor(Math.log2(Math.abs(v))) - 23);
    // The mean is float32 of the exact mean; rstd float32 of 1/√(var + eps) about that rounded mean.
    const rounded = oracle(data, activation, true);
    for (let row = 0; row < rows; row++) {
      expect(Math.abs(means![row]! - exact.mean[row]!)).toBeLessThanOrEqual(ulp(exact.mean[row]!));
      expect(Math.abs(rstds![row]! - rounded.rstd[row]!)).toBeLessThanOrEqual(ulp(rounded.rstd[row]!));
    }
    const contract = oracle(data, activation, { mean: means!, rstd: rstds! });
    for (const [what, error] of Object.entries(errors({ y: y!, dx: dx!, dGamma: dGamma!, dBeta: dBeta! }, contract))) {
      expect(error, `${what} vs contract`).toBeLessThanOrEqual(tolerance);
    }
  });

  it('C not a multiple of 4 (plain loops) still matches the oracle', async () => {
    const data = makeCase(3, 5, 90, 1e3, 1e-2);
    for (const [what, error] of Object.entries(errors(await layerNormOn('wasm', data), oracle(data, 'linear', true)))) {
      expect(error, what).toBeLessThanOrEqual(tolerance);
    }
  });

  it('leaves no tensors or wasm buffers behind', async () => {
    await tf.setBackend('wasm');
    const backend = tf.backend() as unknown as { numDataIds(): number };
    const data = makeCase(64, 128, 95);
    await layerNormOn('wasm', data);
    const tensors = tf.memory().numTensors;
    const buffers = backend.numDataIds();
    for (let i = 0; i < 3; i++) {
      await layerNormOn('wasm', data);
      await kernelsOnWasm(data, 'silu');
      expect(tf.memory().numTensors).toBe(tensors);
      expect(backend.numDataIds()).toBe(buffers);
    }
  });
});
