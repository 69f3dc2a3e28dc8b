import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { RuntimeError, ensureGradients, registerTrainingKernels, useBackend } from '@gq/runtime';
import { trainingKernelStatus } from '@gq/runtime/internal';
import { attention } from '@gq/nn';
import { expectCodedError, seededNormal, seededRandom } from '@gq/test-utils';
import {
  backendMemory,
  compileBatchedGemm,
  gemmBlocks,
  scratchBytes,
  type BatchedGemmSimd,
  type GemmFunction,
  type GemmTile,
} from '../src/kernels/batched-gemm-simd.js';
import { enableRelaxedSimd, relaxedMaddFuses, relaxedSimdAvailable } from '../src/kernels/relaxed-simd.js';
import { normals, on, relativeError } from './helpers/numeric.js';

/*
 * BatchMatMul on wasm: batched products, every product with a transpose and batch-1 products whose
 * output is not narrow with a scalar column tail run on the SIMD GEMM of batched-gemm-simd.ts (a
 * transposed A read as stored, a transposed B materialised), as does _FusedMatMul's affine case
 * (bias added by the GEMM), checked
 * against a float64 oracle and, for gradients, against the cpu backend; the four emitted functions
 * (A as rows or transposed, packed or not) also directly, with every tail and block boundary.
 *
 * Tolerance: each output is a float32 sum of K products of unit normals, summed in order; its
 * rounding error is ≲ K·ε·Σ|terms| in the very worst case (64 · 6e-8 · 64 ≈ 2.5e-4 for K = 64) and
 * about √K·ε·|partial sums| in practice: 1e-6 for K = 64, 1e-5 for K = 2100 (partial sums ~50),
 * judged against max(1, max|expected|) ≈ 10–30, resp. ~150. A wrong row, column, tail, block or
 * batch stride gives errors of order 1.
 */
const tolerance = 1e-5;

/** The arithmetics this engine can compile: separate multiply and add, and fused where relaxed SIMD validates. */
const arithmetics = (): boolean[] => (relaxedSimdAvailable() ? [false, true] : [false]);

/** Whether relaxed SIMD is available (Node 20 needs the flag `enableRelaxedSimd` sets) and fuses here. */
const fusedHere = (await enableRelaxedSimd()) && relaxedMaddFuses();


type Backend = 'cpu' | 'wasm';




/** The [batch, cols, rows] transpose of `batch` row-major [rows, cols] matrices. */
function transposed(values: Float32Array, batch: number, rows: number, cols: number): Float32Array {
  const out = new Float32Array(values.length);
  for (let b = 0; b < batch; b++) {
    const base = b * rows * cols;
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[base + c * rows + r] = values[base + r * cols + c]!;
  }
  return out;
}

/** out[t] = A[t or 0]·B[t or 0] in float64, for A [batchA, m, k] and B [batchB, k, n] (a batch of 1 broadcasts). */
function oracle(a: Float32Array, b: Float32Array, batchA: number, batchB: number, m: number, k: number, n: number): Float64Array {
  const batch = Math.max(batchA, batchB);
  const out = new Float64Array(batch * m * n);
  for (let t = 0; t < batch; t++) {
    const aBase = (batchA === 1 ? 0 : t) * m * k;
    const bBase = (batchB === 1 ? 0 : t) * k * n;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let sum = 0;
        for (let q = 0; q < k; q++) sum += a[aBase + i * k + q]! * b[bBase + q * n + j]!;
        out[(t * m + i) * n + j] = sum;
      }
    }
  }
  return out;
}

function batchMatMulCalls(): { fast: number; fallback: number } {
  const s = trainingKernelStatus().BatchMatMul;
  return { fast: s.fastCalls, fallback: s.fallbackCalls };
}

function fusedMatMulCalls(): { fast: number; fallback: number } {
  const s = trainingKernelStatus()._FusedMatMul;
  return { fast: s.fastCalls, fallback: s.fallbackCalls };
}

/** Whether an untransposed batch-1 product with n output columns takes the SIMD GEMM (the routing rule). */
const simdColumns = (n: number): boolean => n % 4 === 0 || n >= 16;

/** One product: logical A [...batchA, m, k] · B [...batchB, k, n], passed transposed where asked. */
interface Case {
  readonly batchA: readonly number[];
  readonly batchB: readonly number[];
  readonly m: number;
  readonly k: number;
  readonly n: number;
  readonly transposeA: boolean;
  readonly transposeB: boolean;
}

const describeCase = (c: Case): string =>
  `[${[...c.batchA, c.m, c.k].join(',')}]${c.transposeA ? 'ᵀ' : ''}·[${[...c.batchB, c.k, c.n].join(',')}]${c.transposeB ? 'ᵀ' : ''}`;

const size = (dims: readonly number[]): number => dims.reduce((x, y) => x * y, 1);

/** Run a case on wasm and return its error against the float64 oracle, with the output shape. */
async function runCase(c: Case, seed: number): Promise<{ error: number; shape: number[] }> {
  const batchA = size(c.batchA);
  const batchB = size(c.batchB);
  const a = normals(seed, batchA * c.m * c.k);
  const b = normals(seed + 1, batchB * c.k * c.n);
  const expected = oracle(a, b, batchA, batchB, c.m, c.k, c.n);
  let shape: number[] = [];
  const [actual] = await on('wasm', () => {
    const left = c.transposeA ? tf.tensor(transposed(a, batchA, c.m, c.k), [...c.batchA, c.k, c.m]) : tf.tensor(a, [...c.batchA, c.m, c.k]);
    const right = c.transposeB ? tf.tensor(transposed(b, batchB, c.k, c.n), [...c.batchB, c.n, c.k]) : tf.tensor(b, [...c.batchB, c.k, c.n]);
    const out = tf.matMul(left, right, c.transposeA, c.transposeB);
    shape = out.shape;
    return out;
  });
  return { error: relativeError(actual!, expected), shape };
}

/**
 * Every transpose combination under each broadcast (none, A's batch 1, B's batch 1), then random
 * ones; m, k, n from sizes off and on the 4 × 8 tile grid.
 */
function randomCases(seed: number, extra: number): Case[] {
  const next = seededRandom(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!;
  const make = (broadcast: 'none' | 'a' | 'b', transposeA: boolean, transposeB: boolean): Case => {
    const batch = pick([2, 3, 5]);
    return {
      batchA: [broadcast === 'a' ? 1 : batch],
      batchB: [broadcast === 'b' ? 1 : batch],
      m: pick(dims),
      k: pick(dims),
      n: pick(dims),
      transposeA,
      transposeB,
    };
  };
  const cases: Case[] = [];
  for (const broadcast of ['none', 'a', 'b'] as const) {
    for (const transposeA of [false, true]) for (const transposeB of [false, true]) cases.push(make(broadcast, transposeA, transposeB));
  }
  for (let i = 0; i < extra; i++) cases.push(make(pick(['none', 'a', 'b'] as const), next() < 0.5, next() < 0.5));
  return cases;
}

/** The four functions of the emitted module. */
const functionNames = ['gemm', 'gemmPacked', 'gemmTransposedA', 'gemmTransposedAPacked'] as const satisfies readonly (keyof BatchedGemmSimd)[];

/** The same four, adding a bias row. */
const biasFunctionNames = ['gemmBias', 'gemmPackedBias', 'gemmTransposedABias', 'gemmTransposedAPackedBias'] as const satisfies readonly (keyof BatchedGemmSimd)[];
/** The functions that add the product to what out holds. */
const accumulateFunctionNames = [
  'gemmAccumulate',
  'gemmPackedAccumulate',
  'gemmTransposedAAccumulate',
  'gemmTransposedAPackedAccumulate',
] as const satisfies readonly (keyof BatchedGemmSimd)[];

/** Sizes off and on the 4 × 8 tile grid. */
const dims = [1, 3, 5, 7, 33, 64] as const;

/** A sentinel written around outputs and after scratch buffers: any change means a stray write. */
const sentinel = 12345.5;

/**
 * Run each emitted function (plain, with a bias row, and accumulating onto prior values of out) on every (m, n, k) with batch 2 and A broadcast (aStep 0), under each
 * [kBlock, nBlock], into an output and a scratch buffer (sized by `scratchBytes`) each followed
 * by 64 sentinels; return the worst error per function against the float64 oracle (infinite on a
 * stray write).
 */
async function directSweep(
  gemm: BatchedGemmSimd,
  ms: readonly number[],
  ns: readonly number[],
  ks: readonly number[],
  blocks: readonly (readonly [number, number])[],
): Promise<Record<string, number>> {
  await tf.setBackend('wasm');
  const backend = tf.backend() as unknown as { typedArrayFromHeap(t: tf.Tensor): Float32Array };
  const at = (t: tf.Tensor): number => backend.typedArrayFromHeap(t).byteOffset;
  const names = [...functionNames, ...biasFunctionNames, ...accumulateFunctionNames];
  const worst: Record<string, number> = Object.fromEntries(names.map((name) => [name, 0]));
  const batch = 2;
  let seed = 900;
  for (const m of ms) {
    for (const n of ns) {
      for (const k of ks) {
        const a = normals(seed++, m * k);
        const b = normals(seed++, batch * k * n);
        const expected = oracle(a, b, 1, batch, m, k, n);
        const biasValues = normals(seed++, n);
        const expectedBias = expected.map((v, i) => v + biasValues[i % n]!);
        const prior = normals(seed++, batch * m * n);
        const expectedAccumulated = expected.map((v, i) => v + prior[i]!);
        const bias = tf.tensor1d(biasValues);
        const left = tf.tensor2d(a, [m, k]);
        const leftT = tf.tensor2d(transposed(a, 1, m, k), [k, m]);
        const right = tf.tensor3d(b, [batch, k, n]);
        const out = tf.zeros([batch * m * n + 64]);
        const scratch = tf.zeros([Math.max(...blocks.map(([kb, nb]) => scratchBytes({ rows: 4, vectors: 2 }, k, n, kb, nb))) / 4 + 64]);
        try {
          for (const name of names) {
            const run: GemmFunction = gemm[name];
            const A = name.startsWith('gemmTransposedA') ? leftT : left;
            const withBias = name.endsWith('Bias');
            const accumulates = name.endsWith('Accumulate');
            for (const [kBlock, nBlock] of blocks) {
              const bytes = name.includes('Packed') ? scratchBytes({ rows: 4, vectors: 2 }, k, n, kBlock, nBlock) : 0;
              backend.typedArrayFromHeap(out).fill(sentinel);
              if (accumulates) backend.typedArrayFromHeap(out).set(prior);
              backend.typedArrayFromHeap(scratch).fill(sentinel);
              // The plain functions get the bias address too: they must ignore it.
              run(at(A), at(right), at(out), batch, 0, 4 * k * n, m, n, k, kBlock, nBlock, at(scratch), at(bias));
              const values = backend.typedArrayFromHeap(out);
              const stray = values.subarray(batch * m * n).some((x) => x !== sentinel) || backend.typedArrayFromHeap(scratch).subarray(bytes / 4).some((x) => x !== sentinel);
              const error = stray ? Number.POSITIVE_INFINITY : relativeError(values.subarray(0, batch * m * n), withBias ? expectedBias : accumulates ? expectedAccumulated : expected);
              worst[name] = Math.max(worst[name]!, error);
            }
          }
        } finally {
          tf.dispose([left, leftT, right, out, scratch, bias]);
        }
      }
    }
  }
  return worst;
}

/** Batch-1 products (rank 2, or rank 3 with batch 1) with at least one transpose, m, k, n from `dims`. */
function batchOneCases(seed: number, count: number): Case[] {
  const next = seededRandom(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!;
  const cases: Case[] = [];
  for (let i = 0; i < count; i++) {
    const [transposeA, transposeB] = pick([
      [true, false],
      [false, true],
      [true, true],
    ] as const);
    const batch = i % 4 === 3 ? [1] : [];
    cases.push({ batchA: batch, batchB: batch, m: pick(dims), k: pick(dims), n: pick(dims), transposeA, transposeB });
  }
  return cases;
}

/** How many times wasm's Transpose kernel runs during `fn` (counted by wrapping its registration). */
async function countTransposes(fn: () => Promise<unknown>): Promise<number> {
  const config = tf.getKernel('Transpose', 'wasm')!;
  let calls = 0;
  tf.unregisterKernel('Transpose', 'wasm');
  tf.registerKernel({
    ...config,
    kernelFunc: (args) => {
      calls++;
      return config.kernelFunc(args);
    },
  });
  try {
    await fn();
  } finally {
    tf.unregisterKernel('Transpose', 'wasm');
    tf.registerKernel(config);
  }
  return calls;
}

beforeAll(async () => {
  await useBackend('cpu');
  await useBackend('wasm');
  await ensureGradients();
  registerTrainingKernels();
});

describe('batched BatchMatMul on wasm matches a float64 oracle', () => {
  it('finds the wasm backend memory (the SIMD path is the one under test)', async () => {
    await tf.setBackend('wasm');
    expect(backendMemory(tf.backend() as never)).toBeInstanceOf(WebAssembly.Memory);
  });

  it.each(randomCases(5, 12).map((c) => [describeCase(c), c] as const))('%s', async (_, c) => {
    const before = batchMatMulCalls();
    const { error, shape } = await runCase(c, 100);
    const batch = Math.max(size(c.batchA), size(c.batchB));
    expect(shape).toEqual([batch, c.m, c.n]);
    expect(error).toBeLessThanOrEqual(tolerance);
    const after = batchMatMulCalls();
    expect(after.fast - before.fast, 'SIMD calls').toBe(1);
    expect(after.fallback - before.fallback, 'fallback calls').toBe(0);
  });

  it.each([
    ['scores q·kᵀ', { batchA: [2, 4], batchB: [2, 4], m: 64, k: 32, n: 64, transposeA: false, transposeB: true }],
    ['scores q·kt', { batchA: [2, 4], batchB: [2, 4], m: 64, k: 32, n: 64, transposeA: false, transposeB: false }],
    ['weights·v', { batchA: [2, 4], batchB: [2, 4], m: 64, k: 64, n: 32, transposeA: false, transposeB: false }],
    ['dv = weightsᵀ·dy', { batchA: [2, 4], batchB: [2, 4], m: 64, k: 64, n: 32, transposeA: true, transposeB: false }],
    ['rank 4 · rank 2 (B broadcast)', { batchA: [3, 2], batchB: [], m: 5, k: 7, n: 9, transposeA: false, transposeB: false }],
    ['rank 2 · rank 4 (A broadcast)', { batchA: [], batchB: [2, 3], m: 33, k: 5, n: 7, transposeA: true, transposeB: true }],
    ['[2, 1] · [1] batch (broadcast inside the batch shape)', { batchA: [2, 1], batchB: [1], m: 4, k: 8, n: 8, transposeA: false, transposeB: false }],
  ] as const)('rank-4 attention shapes and rank broadcasts: %s', async (_, c) => {
    const before = batchMatMulCalls();
    const { error, shape } = await runCase(c, 200);
    const batchShape = c.batchA.length >= c.batchB.length ? c.batchA : c.batchB;
    expect(shape).toEqual([...batchShape, c.m, c.n]);
    expect(error).toBeLessThanOrEqual(tolerance);
    expect(batchMatMulCalls().fast - before.fast).toBe(1);
  });

  it.each(
    [
      [1, 7, 64],
      [33, 7, 64],
      [5, 64, 3],
      [64, 33, 7],
      [7, 5, 9],
      [33, 64, 16],
      [3, 33, 17],
      [64, 5, 33],
      [7, 2100, 33],
      [33, 2100, 520],
      [65, 300, 1],
    ].map(([m, k, n], i) => [`[${m},${k}]·[${k},${n}]`, { batchA: i % 3 === 2 ? [1] : [], batchB: i % 3 === 2 ? [1] : [], m: m!, k: k!, n: n!, transposeA: false, transposeB: false }] as const),
  )('batch-1 without transposes: SIMD GEMM unless narrow with a scalar tail, %s', async (_, c) => {
    const before = batchMatMulCalls();
    const { error, shape } = await runCase(c, 300);
    expect(shape).toEqual([...c.batchA, c.m, c.n]);
    expect(error).toBeLessThanOrEqual(tolerance);
    const after = batchMatMulCalls();
    // Narrow outputs with scalar columns: wasm's own kernel on the operands as given.
    expect(after.fast - before.fast, 'SIMD calls').toBe(simdColumns(c.n) ? 1 : 0);
    expect(after.fallback - before.fallback, 'fallback calls').toBe(simdColumns(c.n) ? 0 : 1);
  });

  it.each(batchOneCases(7, 24).map((c) => [describeCase(c), c] as const))('batch-1 with a transpose, on the SIMD GEMM: %s', async (_, c) => {
    const before = batchMatMulCalls();
    let error = Number.POSITIVE_INFINITY;
    let shape: number[] = [];
    const transposes = await countTransposes(async () => ({ error, shape } = await runCase(c, 310)));
    expect(shape).toEqual([...(c.batchA.length > 0 ? c.batchA : c.batchB), c.m, c.n]);
    expect(error).toBeLessThanOrEqual(tolerance);
    expect(batchMatMulCalls().fast - before.fast).toBe(1);
    // A transposed A is read as stored; only a transposed B is materialised.
    expect(transposes).toBe(c.transposeB ? 1 : 0);
  });

  it.each([
    ['dW = xᵀ·dy', { batchA: [], batchB: [], m: 7, k: 2100, n: 33, transposeA: true, transposeB: false }],
    ['dW = xᵀ·dy, rank 3', { batchA: [1], batchB: [1], m: 33, k: 2100, n: 520, transposeA: true, transposeB: false }],
    ['dx = dy·Wᵀ', { batchA: [], batchB: [], m: 33, k: 2100, n: 7, transposeA: false, transposeB: true }],
    ['both transposed, batched', { batchA: [2], batchB: [2], m: 5, k: 2100, n: 64, transposeA: true, transposeB: true }],
  ] as const)('K = 2100 crosses K blocks (and packs B): %s', async (_, c) => {
    const before = batchMatMulCalls();
    const { error } = await runCase(c, 320);
    expect(error).toBeLessThanOrEqual(tolerance);
    expect(batchMatMulCalls().fast - before.fast).toBe(1);
  });

  it('falls back to wasm’s kernel when the backend memory is not reachable', async () => {
    await tf.setBackend('wasm');
    const backend = tf.backend() as unknown as { wasm: object };
    const wasm = backend.wasm;
    // The emscripten module without its `asm` exports, as an engine that hides them would look.
    backend.wasm = new Proxy(wasm, { get: (target, key) => (key === 'asm' ? undefined : Reflect.get(target, key)) });
    try {
      const before = batchMatMulCalls();
      const { error } = await runCase({ batchA: [3], batchB: [3], m: 5, k: 7, n: 9, transposeA: false, transposeB: false }, 400);
      expect(error).toBeLessThanOrEqual(tolerance);
      expect(batchMatMulCalls().fallback - before.fallback).toBe(1);
    } finally {
      backend.wasm = wasm;
    }
  });

  it('every tile shape the generator takes handles row, column, K and block tails, packed or not', async () => {
    await tf.setBackend('wasm');
    const backend = tf.backend() as unknown as { typedArrayFromHeap(t: tf.Tensor): Float32Array };
    const memory = backendMemory(tf.backend() as never)!;
    // 6 rows: 6-, 4- and 1-row blocks; 3 vectors: 12-, 4- and 1-column tiles.
    const tiles: GemmTile[] = [
      { rows: 4, vectors: 2 },
      { rows: 6, vectors: 3 },
      { rows: 1, vectors: 1 },
    ];
    const [batch, m, k, n] = [3, 15, 9, 23];
    const a = normals(500, batch * m * k);
    const b = normals(501, k * n);
    const expected = oracle(a, b, batch, 1, m, k, n);
    const left = tf.tensor3d(a, [batch, m, k]);
    const leftT = tf.tensor3d(transposed(a, batch, m, k), [batch, k, m]);
    const right = tf.tensor2d(b, [k, n]);
    const out = tf.zeros([batch, m, n]);
    const scratch = tf.zeros([scratchBytes({ rows: 6, vectors: 3 }, k, n, 0, 0) / 4]);
    const at = (t: tf.Tensor): number => backend.typedArrayFromHeap(t).byteOffset;
    try {
      for (const [tile, fusedMultiplyAdd] of tiles.flatMap((t) => arithmetics().map((f) => [t, f] as const))) {
        const gemm = compileBatchedGemm(memory, { tile, fusedMultiplyAdd });
        for (const name of functionNames) {
          const A = name.startsWith('gemmTransposedA') ? leftT : left;
          // No blocks; K blocks of 4 (9 = 4 + 4 + 1) with column blocks of 8 (23 = 8 + 8 + 7).
          for (const [kBlock, nBlock] of [
            [0, 0],
            [4, 8],
          ]) {
            backend.typedArrayFromHeap(out).fill(Number.NaN);
            gemm[name](at(A), at(right), at(out), batch, 4 * m * k, 0, m, n, k, kBlock, nBlock, at(scratch));
            expect(relativeError(backend.typedArrayFromHeap(out), expected), `${tile.rows}×${4 * tile.vectors} ${fusedMultiplyAdd ? 'fused' : 'separate'} ${name} ${kBlock}/${nBlock}`).toBeLessThanOrEqual(tolerance);
          }
        }
      }
    } finally {
      tf.dispose([left, leftT, right, out, scratch]);
    }
  });

  it.each([false, true])('each emitted function on every M, N, K in {1, 3, 5, 7, 33, 64}, small blocks, within its scratch (fused multiply–add: %s)', async (fusedMultiplyAdd) => {
    await tf.setBackend('wasm');
    const gemm = compileBatchedGemm(backendMemory(tf.backend() as never)!, { fusedMultiplyAdd });
    const worst = await directSweep(gemm, dims, dims, dims, [
      [0, 0],
      [3, 8],
      [gemmBlocks.kBlock, gemmBlocks.nBlock],
    ]);
    for (const [name, error] of Object.entries(worst)) expect(error, name).toBeLessThanOrEqual(tolerance);
  });

  it.each([false, true])('each emitted function with K = 2100, across the real K block (256) and B packing (fused multiply–add: %s)', async (fusedMultiplyAdd) => {
    await tf.setBackend('wasm');
    const gemm = compileBatchedGemm(backendMemory(tf.backend() as never)!, { fusedMultiplyAdd });
    const worst = await directSweep(gemm, [7], [33, 520], [2100], [[gemmBlocks.kBlock, gemmBlocks.nBlock]]);
    for (const [name, error] of Object.entries(worst)) expect(error, name).toBeLessThanOrEqual(tolerance);
  });

  // Fused where this CPU rounds relaxed_madd once (x64 with FMA, arm64); elsewhere the separate case covers it.
  it.each(fusedHere ? [false, true] : [false])('sums every output over k in ascending order, each step rounded as its arithmetic says (fused multiply–add: %s)', async (fusedMultiplyAdd) => {
    // Exact, not within a tolerance: with separate instructions each step is fround(acc + fround(a·b));
    // fused, fround(acc + a·b) with a·b exact (two float32 significands fit a float64 one). The
    // float64 sum before the last rounding could round twice only at an exact float32 midpoint,
    // which these random operands do not hit. K blocks of 4 and packing cross every boundary.
    await tf.setBackend('wasm');
    const backend = tf.backend() as unknown as { typedArrayFromHeap(t: tf.Tensor): Float32Array };
    const at = (t: tf.Tensor): number => backend.typedArrayFromHeap(t).byteOffset;
    const gemm = compileBatchedGemm(backendMemory(tf.backend() as never)!, { fusedMultiplyAdd });
    const [m, k, n] = [9, 37, 20];
    const a = normals(950, m * k);
    const b = normals(951, k * n);
    const expected = new Float32Array(m * n);
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let acc = 0;
        for (let q = 0; q < k; q++) {
          const product = a[i * k + q]! * b[q * n + j]!;
          acc = Math.fround(acc + (fusedMultiplyAdd ? product : Math.fround(product)));
        }
        expected[i * n + j] = acc;
      }
    }
    const left = tf.tensor2d(a, [m, k]);
    const leftT = tf.tensor2d(transposed(a, 1, m, k), [k, m]);
    const right = tf.tensor2d(b, [k, n]);
    const out = tf.zeros([m, n]);
    const scratch = tf.zeros([scratchBytes({ rows: 4, vectors: 2 }, k, n, 4, 8) / 4]);
    try {
      for (const name of functionNames) {
        gemm[name](at(name.startsWith('gemmTransposedA') ? leftT : left), at(right), at(out), 1, 0, 0, m, n, k, 4, 8, at(scratch));
        const values = backend.typedArrayFromHeap(out);
        // Columns 16–19 are one vector tile; none falls to the scalar tail (N is a multiple of 4).
        const mismatches = [...values].filter((v, i) => v !== expected[i]).length;
        expect(mismatches, name).toBe(0);
      }
    } finally {
      tf.dispose([left, leftT, right, out, scratch]);
    }
  });

  it('explains inner dimensions that do not match', async () => {
    await tf.setBackend('wasm');
    const backend = tf.backend() as unknown as { numDataIds(): number };
    const before = tf.memory().numTensors;
    const buffers = backend.numDataIds();
    await expectCodedError(
      () => tf.tidy(() => tf.matMul(tf.zeros([2, 3, 4]), tf.zeros([2, 5, 6]), false, true)),
      RuntimeError,
      'matmul-shape',
      'batchMatMul: the inner dimensions',
      'a [2,3,4] (transposeA false)',
      'b [2,5,6] (transposeB true)',
      'K 4 and 6',
    );
    expect(tf.memory().numTensors).toBe(before);
    expect(backend.numDataIds()).toBe(buffers);
  });
});

/** One fused product: `Case` plus a bias of n entries (or none) and an activation. */
interface FusedCase extends Case {
  readonly bias: boolean;
  readonly activation: 'linear' | 'relu';
}

/** tf.fused.matMul of a case on wasm against the float64 oracle (bias and ReLU applied in float64). */
async function runFusedCase(c: FusedCase, seed: number): Promise<{ error: number; shape: number[] }> {
  const batchA = size(c.batchA);
  const batchB = size(c.batchB);
  const a = normals(seed, batchA * c.m * c.k);
  const b = normals(seed + 1, batchB * c.k * c.n);
  const bias = normals(seed + 2, c.n).map((v) => 3 * v);
  const expected = oracle(a, b, batchA, batchB, c.m, c.k, c.n).map((v, i) => {
    const y = c.bias ? v + bias[i % c.n]! : v;
    return c.activation === 'relu' ? Math.max(0, y) : y;
  });
  let shape: number[] = [];
  const [actual] = await on('wasm', () => {
    const left = c.transposeA ? tf.tensor(transposed(a, batchA, c.m, c.k), [...c.batchA, c.k, c.m]) : tf.tensor(a, [...c.batchA, c.m, c.k]);
    const right = c.transposeB ? tf.tensor(transposed(b, batchB, c.k, c.n), [...c.batchB, c.n, c.k]) : tf.tensor(b, [...c.batchB, c.k, c.n]);
    const out = tf.fused.matMul({
      a: left,
      b: right,
      transposeA: c.transposeA,
      transposeB: c.transposeB,
      activation: c.activation,
      ...(c.bias ? { bias: tf.tensor1d(bias) } : {}),
    });
    shape = out.shape;
    return out;
  });
  return { error: relativeError(actual!, expected), shape };
}

describe('_FusedMatMul on wasm (a linear layer forward) matches a float64 oracle', () => {
  const plain = { batchA: [], batchB: [], transposeA: false, transposeB: false, bias: true, activation: 'linear' } as const;
  it.each([
    ['ViT-like [64, 128]·[128, 384] + b', { ...plain, m: 64, k: 128, n: 384 }],
    ['row, column and K tails [33, 7]·[7, 23] + b', { ...plain, m: 33, k: 7, n: 23 }],
    ['one row [1, 5]·[5, 64] + b', { ...plain, m: 1, k: 5, n: 64 }],
    ['K = 2100 crosses K blocks, n = 520 column blocks (packed) + b', { ...plain, m: 7, k: 2100, n: 520 }],
    ['K = 300 crosses one K block + b', { ...plain, m: 66, k: 300, n: 36 }],
    ['no bias', { ...plain, m: 33, k: 64, n: 17, bias: false }],
    ['bias broadcast over a batch [3, 5, 7]·[7, 33] + b', { ...plain, batchA: [3], batchB: [1], m: 5, k: 7, n: 33 }],
    ['bias over batched B [2, 9, 7]·[2, 7, 20] + b', { ...plain, batchA: [2], batchB: [2], m: 9, k: 7, n: 20 }],
    ['transposeA [5, 33]ᵀ·[5, 19] + b', { ...plain, m: 33, k: 5, n: 19, transposeA: true }],
    ['transposeB [33, 300]·[36, 300]ᵀ + b', { ...plain, m: 33, k: 300, n: 36, transposeB: true }],
    ['both transposed, batched', { ...plain, batchA: [2], batchB: [2], m: 5, k: 33, n: 8, transposeA: true, transposeB: true }],
  ] as const)('on the SIMD GEMM: %s', async (_, c) => {
    const before = fusedMatMulCalls();
    const { error, shape } = await runFusedCase(c, 1000);
    const batchShape = c.batchA.length >= c.batchB.length ? c.batchA : c.batchB;
    expect(shape).toEqual([...batchShape, c.m, c.n]);
    expect(error).toBeLessThanOrEqual(tolerance);
    const after = fusedMatMulCalls();
    expect(after.fast - before.fast, 'SIMD calls').toBe(1);
    expect(after.fallback - before.fallback, 'fallback calls').toBe(0);
  });

  it.each([
    ['an activation (ReLU)', { ...plain, m: 33, k: 7, n: 24, activation: 'relu' }],
    ['a narrow output with scalar columns', { ...plain, m: 33, k: 64, n: 7 }],
  ] as const)("falls back to wasm's kernel for %s (same results)", async (_, c) => {
    const before = fusedMatMulCalls();
    const { error } = await runFusedCase(c, 1100);
    expect(error).toBeLessThanOrEqual(tolerance);
    const after = fusedMatMulCalls();
    expect(after.fast - before.fast, 'SIMD calls').toBe(0);
    expect(after.fallback - before.fallback, 'fallback calls').toBe(1);
  });
});

describe('gradients through batched matMul: tf.grad on wasm matches cpu', () => {
  // A loss that weighs every output differently, so a transposed or shifted gradient cannot pass.
  const weightedSum = (y: tf.Tensor): tf.Scalar => tf.sum(tf.mul(y, tf.sin(tf.reshape(tf.range(0, y.size), y.shape))));

  async function compare(fn: () => tf.Tensor[]): Promise<number> {
    const expected = await on('cpu', fn);
    const actual = await on('wasm', fn);
    let worst = 0;
    expected.forEach((e, i) => (worst = Math.max(worst, relativeError(actual[i]!, e))));
    return worst;
  }

  it.each([
    [[6, 7, 5], [6, 5, 33], false, false],
    [[6, 7, 5], [6, 33, 5], false, true],
    [[6, 5, 7], [6, 5, 33], true, false],
    [[2, 4, 32, 64], [2, 4, 33, 32], true, true],
    [[2, 4, 64, 32], [2, 4, 32, 64], false, false],
  ] as const)('a %j · b %j (transposeA %s, transposeB %s) → da, db', async (shapeA, shapeB, transposeA, transposeB) => {
    const before = batchMatMulCalls();
    const error = await compare(() => {
      const a = tf.tensor(normals(600, size(shapeA)), [...shapeA]);
      const b = tf.tensor(normals(601, size(shapeB)), [...shapeB]);
      return tf.grads((x: tf.Tensor, y: tf.Tensor) => weightedSum(tf.matMul(x, y, transposeA, transposeB)))([a, b]);
    });
    expect(error).toBeLessThanOrEqual(tolerance);
    // Forward and both gradient products on the SIMD path.
    expect(batchMatMulCalls().fast - before.fast).toBe(3);
  });

  it.each([
    ['33 tokens, 19 → 23', 33, 19, 23],
    ['2100 tokens (dW crosses K blocks and packs), 7 → 33', 2100, 7, 33],
    ['64 tokens, 64 → 520 (dx crosses column blocks)', 64, 64, 520],
  ] as const)('a linear layer (fused matMul + bias), %s → y, dx, dW', async (_, tokens, inFeatures, outFeatures) => {
    const before = batchMatMulCalls();
    const fusedBefore = fusedMatMulCalls();
    const error = await compare(() => {
      const x = tf.tensor2d(normals(610, tokens * inFeatures), [tokens, inFeatures]);
      const weight = tf.tensor2d(normals(611, inFeatures * outFeatures), [inFeatures, outFeatures]);
      const bias = tf.tensor1d(normals(612, outFeatures));
      const linear = (a: tf.Tensor, w: tf.Tensor, c: tf.Tensor): tf.Tensor => tf.fused.matMul({ a: a as tf.Tensor2D, b: w as tf.Tensor2D, bias: c });
      // db is wasm's Sum over the tokens, not a product: float32 sums of 2100 terms on two backends
      // differ by ~2e-5 of their scale, so it is left out.
      return [linear(x, weight, bias), ...tf.grads((a: tf.Tensor, w: tf.Tensor, c: tf.Tensor) => weightedSum(linear(a, w, c)))([x, weight, bias]).slice(0, 2)];
    });
    expect(error).toBeLessThanOrEqual(tolerance);
    // dx = dy·Wᵀ and dW = xᵀ·dy on the SIMD path; both forwards (y, and inside tf.grads) are
    // _FusedMatMul on the SIMD GEMM with the bias.
    expect(batchMatMulCalls().fast - before.fast).toBe(2);
    expect(fusedMatMulCalls().fast - fusedBefore.fast).toBe(2);
  });

  it("@gq/nn's attention (4 heads, 64 tokens) → dq, dk, dv", async () => {
    const error = await compare(() => {
      const [q, k, v] = [700, 701, 702].map((seed) => tf.tensor3d(normals(seed, 2 * 64 * 128), [2, 64, 128]));
      return tf.grads((x: tf.Tensor, y: tf.Tensor, z: tf.Tensor) =>
        weightedSum(attention(x as tf.Tensor3D, y as tf.Tensor3D, z as tf.Tensor3D, 4)),
      )([q!, k!, v!]);
    });
    expect(error).toBeLessThanOrEqual(tolerance);
  });
});

describe('memory', () => {
  it('leaves no tensors or wasm buffers behind', async () => {
    await tf.setBackend('wasm');
    const backend = tf.backend() as unknown as { numDataIds(): number };
    const a = tf.tensor4d(normals(800, 2 * 4 * 33 * 7), [2, 4, 33, 7]);
    const b = tf.tensor4d(normals(801, 2 * 4 * 7 * 5), [2, 4, 7, 5]);
    const big = tf.tensor2d(normals(803, 300 * 64), [300, 64]);
    const tensors = tf.memory().numTensors;
    const buffers = backend.numDataIds();
    for (let i = 0; i < 2; i++) {
      const results = tf.tidy(() => [
        tf.matMul(a, b),
        tf.matMul(b, a, true, true),
        tf.matMul(a, tf.tensor2d(normals(802, 5 * 7), [5, 7]), false, true),
        ...tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.matMul(x, y, true, false)))([tf.transpose(a, [0, 1, 3, 2]), b]),
        // Batch 1: A read transposed and B materialised, unpacked and packed (scratch buffers).
        tf.matMul(tf.reshape(a, [264, 7]), tf.reshape(a, [264, 7]), true, false),
        tf.matMul(big, big, true, false),
        tf.matMul(big, big, false, true),
        // Batch 1 without transposes, packed (a 64 × 300 B block outgrows 32 KB), and fused + bias.
        tf.matMul(big, tf.transpose(big)),
        tf.fused.matMul({ a: big, b: tf.transpose(big), bias: tf.ones([300]) }),
        tf.fused.matMul({ a: tf.reshape(a, [264, 7]), b: tf.ones([7, 24]), bias: tf.ones([24]), activation: 'relu' }),
        ...tf.grads((x: tf.Tensor, w: tf.Tensor, c: tf.Tensor) => tf.sum(tf.fused.matMul({ a: x as tf.Tensor2D, b: w as tf.Tensor2D, bias: c })))([
          big,
          tf.ones([64, 40]),
          tf.ones([40]),
        ]),
      ]);
      for (const r of results) await r.data();
      tf.dispose(results);
    }
    expect(tf.memory().numTensors).toBe(tensors);
    expect(backend.numDataIds()).toBe(buffers);
    tf.dispose([a, b, big]);
  });
});
