import * as tf from '@tensorflow/tfjs-core';
import { LOG_VAR_MAX, LOG_VAR_MIN } from '@gq/core';
import { createCodebook, gqSearch, gqSearchCpu, releaseCodebookTensors, wasmSimdSupported, type Codebook, type CpuSearchAlgorithm } from '@gq/codebook';
import { philox4x32, ppnd16, uniformFromWords } from '@gq/codebook/internal';
import { availableBackends, useBackend, type BackendName } from '@gq/runtime';
import { nodeFiles } from '@gq/runtime/files';
import { DataParallelTrainer } from '@gq/runtime/parallel';
import { batchShards, combineStepStats, initBackbone, loadDataset, replicaModuleUrl, splitImages, toModelInput, TrainedModel, type TrainingReplicaTypes } from '@gq/training';
import { ParallelSearch, type ParallelSearchOptions } from '@gq/runtime/parallel';
import type { Table } from '../report.js';
import { benchConfig, type BenchContext } from '../runs.js';
import { SuiteRun, type SuiteOutput } from '../suite.js';
import { barPlot } from '../svg.js';

export interface SearchTiming {
  readonly path: string;
  readonly backend: string;
  readonly rows: number;
  readonly seconds: number;
  readonly secondsPerQuery: number;
  /** Share of indices equal to the float64 JS scan on the same rows; null for that scan itself (the reference). */
  readonly agreement: number | null;
}

export interface StepTiming {
  readonly backend: string;
  readonly workers: number;
  readonly batch: number;
  readonly steps: number;
  readonly secondsPerStep: number;
  readonly imagesPerSecond: number;
}

export interface TokenizerTiming {
  readonly backend: string;
  readonly images: number;
  readonly encodeSeconds: number;
  readonly decodeSeconds: number;
  readonly encodeImagesPerSecond: number;
  readonly decodeImagesPerSecond: number;
  readonly tfBytesAfter: number;
}

/** Deterministic queries in the regime GQ sees: μ ~ N(0, 1 − σ²), σ ∈ [0.35, 0.65] (about 1 bit per dimension). */
function searchQueries(rows: number, dim: number, seed: number): { mu: Float32Array; logVar: Float32Array } {
  const mu = new Float32Array(rows * dim);
  const logVar = new Float32Array(rows * dim);
  const words = new Uint32Array(4);
  for (let i = 0; i < mu.length; i++) {
    philox4x32(i, 0, 7, 0, seed, 0x62656e63, words);
    const sigma = 0.35 + 0.3 * uniformFromWords(words[0]!, words[1]!);
    mu[i] = Math.sqrt(1 - sigma * sigma) * ppnd16(uniformFromWords(words[2]!, words[3]!));
    logVar[i] = 2 * Math.log(sigma);
  }
  return { mu, logVar };
}

async function best<T>(repeats: number, fn: () => Promise<T> | T): Promise<{ seconds: number; value: T }> {
  let seconds = Infinity;
  let value: T | undefined;
  for (let r = 0; r < repeats; r++) {
    const start = performance.now();
    value = await fn();
    seconds = Math.min(seconds, (performance.now() - start) / 1000);
  }
  return { seconds, value: value! };
}

const same = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let n = 0;
  for (let i = 0; i < a.length; i++) if (a[i] === b[i]) n++;
  return n / a.length;
};

/**
 * The reference formulation: every (query, codeword) log-density ratio
 * Σ_d [log N(c_d; μ_d, σ_d²) − β log N(c_d; 0, 1)] materialised as [rows, K, m], summed, argmax.
 * Chunked over queries only to fit the wasm heap; each chunk still holds rows·K·m floats.
 */
function naiveIndices(mu: Float32Array, logVar: Float32Array, codebook: Codebook, rows: number, beta: number): tf.Tensor1D {
  const { size, dim } = codebook;
  const perChunk = Math.max(1, Math.floor((128 * 2 ** 20) / (size * dim * 4)));
  const codes = tf.tensor3d(codebook.values, [1, size, dim]);
  const halfLogTwoPi = 0.5 * Math.log(2 * Math.PI);
  const parts: tf.Tensor1D[] = [];
  for (let start = 0; start < rows; start += perChunk) {
    const count = Math.min(perChunk, rows - start);
    parts.push(
      tf.tidy(() => {
        const m = tf.tensor3d(mu.subarray(start * dim, (start + count) * dim), [count, 1, dim]);
        const l = tf.clipByValue(tf.tensor3d(logVar.subarray(start * dim, (start + count) * dim), [count, 1, dim]), LOG_VAR_MIN, LOG_VAR_MAX);
        const posterior = tf.neg(tf.add(tf.add(tf.div(tf.squaredDifference(codes, m), tf.mul(tf.exp(l), 2)), tf.mul(l, 0.5)), halfLogTwoPi));
        const prior = tf.neg(tf.add(tf.mul(tf.square(codes), 0.5), halfLogTwoPi));
        return tf.argMax(tf.sum(tf.sub(posterior, tf.mul(prior, beta)), 2), 1) as tf.Tensor1D;
      }),
    );
  }
  const out = tf.concat(parts);
  tf.dispose([codes, ...parts]);
  return out;
}

async function searchTimings(ctx: BenchContext, backends: readonly BackendName[]): Promise<{ m16: SearchTiming[]; m1: SearchTiming[]; peakTensorBytes: number }> {
  const { rows, size, dim, naiveRows, scalarRows } = ctx.size.speed;
  const beta = 1;
  const codebook = createCodebook({ size, dim, seed: 42, method: 'sobol' });
  const { mu, logVar } = searchQueries(rows, dim, 1);
  const timings: SearchTiming[] = [];
  ctx.log(`speed: GQ search N = ${rows}, K = ${size}, m = ${dim}`);
  gqSearchCpu(mu.subarray(0, dim), logVar.subarray(0, dim), codebook, { algorithm: 'exhaustive-js' });
  const reference = await best(1, () => gqSearchCpu(mu, logVar, codebook, { beta, algorithm: 'exhaustive-js' }));
  const record = (path: string, backend: string, n: number, seconds: number, indices: ArrayLike<number> | null): void => {
    timings.push({ path, backend, rows: n, seconds, secondsPerQuery: seconds / n, agreement: indices === null ? null : same(indices, reference.value.subarray(0, n)) });
  };
  record('gqSearchCpu exhaustive-js (float64 scan), 1 thread: the reference', 'none', rows, reference.seconds, null);
  if (wasmSimdSupported()) {
    gqSearchCpu(mu.subarray(0, dim), logVar.subarray(0, dim), codebook, { algorithm: 'exhaustive-simd' });
    const simd = await best(2, () => gqSearchCpu(mu, logVar, codebook, { beta, algorithm: 'exhaustive-simd' }));
    record('gqSearchCpu exhaustive-simd (wasm SIMD scan + float64 re-rank), 1 thread', 'none', rows, simd.seconds, simd.value);
  }
  const spec = { size, dim, seed: 42, method: 'sobol' } as const;
  // Each row names the path that runs: the algorithm is given explicitly, never left to 'auto'.
  const pooledPaths: (readonly [string, string, ParallelSearchOptions])[] = [
    ...(wasmSimdSupported() ? [['gqSearchCpu exhaustive-simd, 2 worker threads', 'none', { threads: 2, algorithm: 'exhaustive-simd' }] as const] : []),
    ['gqSearchCpu exhaustive-js (float64 scan), 2 worker threads', 'none', { threads: 2, algorithm: 'exhaustive-js' }],
    ['tfjs gqSearch (float32 matMul + argMax), 2 worker threads', 'wasm', { threads: 2, engine: 'tfjs', backend: 'wasm' }],
  ];
  for (const [path, backend, options] of pooledPaths) {
    const pool = await ParallelSearch.create(spec, options);
    try {
      await pool.search(mu.subarray(0, 2 * dim), logVar.subarray(0, 2 * dim), { beta });
      const pooled = await best(path.includes('float64 scan') ? 1 : 2, () => pool.search(mu, logVar, { beta }));
      record(path, backend, rows, pooled.seconds, pooled.value);
    } finally {
      await pool.close();
    }
  }
  let peakTensorBytes = 0;
  for (const backend of backends) {
    await useBackend(backend);
    const muT = tf.tensor2d(mu, [rows, dim]);
    const logVarT = tf.tensor2d(logVar, [rows, dim]);
    try {
      const run = async (): Promise<Int32Array> => {
        const indices = await gqSearch(muT, logVarT, codebook, { beta });
        const data = (await indices.data()) as Int32Array;
        indices.dispose();
        return data;
      };
      await run();
      const timed = await best(2, run);
      record('tfjs gqSearch (float32 matMul [N,2m]×[2m,K] + argMax), 1 thread', backend, rows, timed.seconds, timed.value);
      const profile = await tf.profile(async () => {
        await run();
      });
      peakTensorBytes = Math.max(peakTensorBytes, profile.peakBytes);
      const naiveRowsHere = Math.min(rows, naiveRows);
      const naive = await best(1, async () => {
        const indices = naiveIndices(mu, logVar, codebook, naiveRowsHere, beta);
        const data = await indices.data();
        indices.dispose();
        return data;
      });
      record(`naive [N,K,m] log-densities (first ${naiveRowsHere} rows)`, backend, naiveRowsHere, naive.seconds, naive.value);
    } finally {
      tf.dispose([muT, logVarT]);
      // gqSearch keeps the codebook's feature table on the backend for reuse; this bench is done with it.
      releaseCodebookTensors(codebook);
    }
  }

  ctx.log(`speed: m = 1 search, ${scalarRows} queries, K = ${size}`);
  const scalar = createCodebook({ size, dim: 1, seed: 42, method: 'normal' });
  const q = searchQueries(scalarRows, 1, 2);
  const scalarTimings: SearchTiming[] = [];
  const algorithms: [CpuSearchAlgorithm, string][] = [
    ['exhaustive-js', 'gqSearchCpu exhaustive-js (float64 scan, all K): the reference'],
    ['sorted', 'sorted codebook, O(log K) bisection'],
    ...(wasmSimdSupported() ? ([['exhaustive-simd', 'wasm SIMD scan (all K)']] as [CpuSearchAlgorithm, string][]) : []),
  ];
  let scalarReference: Int32Array | undefined;
  for (const [algorithm, path] of algorithms) {
    gqSearchCpu(q.mu.subarray(0, 1), q.logVar.subarray(0, 1), scalar, { algorithm });
    const timed = await best(algorithm === 'exhaustive-js' ? 1 : 3, () => gqSearchCpu(q.mu, q.logVar, scalar, { beta, algorithm }));
    const isReference = scalarReference === undefined;
    scalarReference ??= timed.value;
    scalarTimings.push({ path, backend: 'none', rows: scalarRows, seconds: timed.seconds, secondsPerQuery: timed.seconds / scalarRows, agreement: isReference ? null : same(timed.value, scalarReference) });
  }
  return { m16: timings, m1: scalarTimings, peakTensorBytes };
}

async function stepTimings(ctx: BenchContext): Promise<StepTiming[]> {
  const config = benchConfig(ctx, 'unet', { method: 'gq', bits: 8 });
  const dataset = await loadDataset(nodeFiles, config.dataset, config.imageSize);
  const { train } = splitImages(dataset, config.testImages, config.seed);
  const out: StepTiming[] = [];
  for (const backend of ctx.size.speed.trainBackends) {
    for (const workers of [1, 2]) {
      ctx.log(`speed: training step, ${backend}, ${workers} worker(s), batch ${config.batchSize}`);
      const trainer = await DataParallelTrainer.create<TrainingReplicaTypes>({ replicaModule: replicaModuleUrl, workers, backend, replicaOptions: { config }, combine: combineStepStats });
      try {
        const shards = (step: number) => batchShards(config, train, step, workers);
        await trainer.step(shards(0));
        const steps = ctx.size.speed.trainSteps;
        const start = performance.now();
        for (let s = 1; s <= steps; s++) await trainer.step(shards(s));
        const secondsPerStep = (performance.now() - start) / 1000 / steps;
        out.push({ backend, workers, batch: config.batchSize, steps, secondsPerStep, imagesPerSecond: config.batchSize / secondsPerStep });
      } finally {
        await trainer.dispose();
      }
    }
  }
  return out;
}

async function tokenizerTimings(ctx: BenchContext): Promise<TokenizerTiming[]> {
  const config = benchConfig(ctx, 'unet', { method: 'gq', bits: 8 });
  const dataset = await loadDataset(nodeFiles, config.dataset, config.imageSize);
  const count = Math.min(ctx.size.speed.tokenizerImages, dataset.count);
  const pixels = toModelInput(dataset, Array.from({ length: count }, (_, i) => i), config.imageSize, config.imageChannels);
  const out: TokenizerTiming[] = [];
  for (const backend of ctx.size.speed.tokenizerBackends) {
    ctx.log(`speed: tokenizer encode/decode, ${backend}, ${count} images`);
    await useBackend(backend);
    const params = initBackbone(config, 1);
    const model = TrainedModel.fromParams(config, params);
    tf.dispose(Object.values(params));
    const tokenizer = model.tokenizer!;
    const images = tf.tensor4d(pixels, [count, config.imageSize, config.imageSize, config.imageChannels]);
    try {
      const warmTokens = await tokenizer.encode(images);
      (await tokenizer.decode(warmTokens)).dispose();
      const encoded = await best(2, () => tokenizer.encode(images));
      const decoded = await best(2, async () => {
        const x = await tokenizer.decode(encoded.value);
        await x.data();
        x.dispose();
        return null;
      });
      out.push({
        backend,
        images: count,
        encodeSeconds: encoded.seconds,
        decodeSeconds: decoded.seconds,
        encodeImagesPerSecond: count / encoded.seconds,
        decodeImagesPerSecond: count / decoded.seconds,
        tfBytesAfter: tf.memory().numBytes,
      });
    } finally {
      images.dispose();
      // The generated codebook is cached and shared, so the tokenizer leaves its search tables to the caller.
      releaseCodebookTensors(tokenizer.codebook);
      model.dispose();
    }
  }
  return out;
}

export interface SpeedResult {
  readonly search: { readonly rows: number; readonly size: number; readonly dim: number; readonly m16: SearchTiming[]; readonly m1: SearchTiming[]; readonly peakTensorBytes: number };
  readonly steps: StepTiming[];
  readonly tokenizer: TokenizerTiming[];
  readonly memory: { readonly peakRssMiB: number; readonly rssMiB: number; readonly tfNumTensors: number; readonly tfNumBytes: number };
  readonly backendsAvailable: string[];
}

/** Speed: GQ search paths against the naive formulation, training step time on 1 and 2 workers, tokenizer throughput, peak memory. */
export async function speedSuite(ctx: BenchContext): Promise<SuiteOutput> {
  const run = new SuiteRun(ctx, 'speed');
  const s = ctx.size.speed;
  const available = await availableBackends();
  const usable = (list: readonly BackendName[]) => list.filter((b) => available.includes(b));
  const key = `speed-n${s.rows}-k${s.size}-m${s.dim}-${runKeyOfSpeed(ctx)}`;
  const result = await run.config(key, async () => {
    const search = await searchTimings(ctx, usable(s.searchBackends));
    const steps = await stepTimings({ ...ctx, size: { ...ctx.size, speed: { ...s, trainBackends: usable(s.trainBackends) } } });
    const tokenizer = await tokenizerTimings({ ...ctx, size: { ...ctx.size, speed: { ...s, tokenizerBackends: usable(s.tokenizerBackends) } } });
    await useBackend(ctx.backend);
    const usage = process.memoryUsage();
    return {
      search: { rows: s.rows, size: s.size, dim: s.dim, ...search },
      steps,
      tokenizer,
      memory: {
        // maxRSS is in KiB and covers the whole process, worker threads included.
        peakRssMiB: process.resourceUsage().maxRSS / 1024,
        rssMiB: usage.rss / 2 ** 20,
        tfNumTensors: tf.memory().numTensors,
        tfNumBytes: tf.memory().numBytes,
      },
      backendsAvailable: available,
    } satisfies SpeedResult;
  });
  const naiveOf = (list: SearchTiming[], backend: string) => list.find((t) => t.path.startsWith('naive') && t.backend === backend) ?? list.find((t) => t.path.startsWith('naive'));
  const searchTable = (title: string, list: SearchTiming[], naive: SearchTiming | undefined): Table => ({
    title,
    columns: ['path', 'backend', 'rows timed', 'seconds', 'ms per 1024 queries', 'speed-up vs naive (per query)', 'agrees with float64 scan %'],
    digits: [0, 0, 0, 3, 1, 1, 2],
    rows: list.map((t) => [t.path, t.backend, t.rows, t.seconds, t.secondsPerQuery * 1024 * 1000, naive !== undefined ? naive.secondsPerQuery / t.secondsPerQuery : '–', t.agreement === null ? 'reference' : t.agreement * 100]),
  });
  const { search } = result;
  const naive = naiveOf(search.m16, 'wasm');
  const tables: Table[] = [
    searchTable(`GQ search, N = ${search.rows}, K = ${search.size}, m = ${search.dim}, β = 1`, search.m16, naive),
    {
      ...searchTable(`GQ search, m = 1, K = ${search.size}, ${s.scalarRows} queries`, search.m1, undefined),
      columns: ['path', 'backend', 'rows timed', 'seconds', 'ms per 1024 queries', 'speed-up vs full scan', 'agrees with full scan %'],
      rows: search.m1.map((t) => [t.path, t.backend, t.rows, t.seconds, t.secondsPerQuery * 1024 * 1000, search.m1[0]!.secondsPerQuery / t.secondsPerQuery, t.agreement === null ? 'reference' : t.agreement * 100]),
    },
    {
      title: 'Training step of the bench UNet (gq + TDC), data-parallel workers',
      columns: ['backend', 'workers', 'batch', 'timed steps', 's per step', 'images/s', 'speed-up vs 1 worker'],
      digits: [0, 0, 0, 0, 3, 1, 2],
      rows: result.steps.map((t) => {
        const one = result.steps.find((o) => o.backend === t.backend && o.workers === 1)!;
        return [t.backend, t.workers, t.batch, t.steps, t.secondsPerStep, t.imagesPerSecond, one.secondsPerStep / t.secondsPerStep];
      }),
    },
    {
      title: 'Tokenizer throughput (bench UNet, GQ K = 2^8; untrained weights, speed only)',
      columns: ['backend', 'images per call', 'encode s', 'encode images/s', 'decode s', 'decode images/s'],
      digits: [0, 0, 3, 1, 3, 1],
      rows: result.tokenizer.map((t) => [t.backend, t.images, t.encodeSeconds, t.encodeImagesPerSecond, t.decodeSeconds, t.decodeImagesPerSecond]),
    },
    {
      title: 'Memory',
      columns: ['peak RSS MiB (process, all threads)', 'RSS at end MiB', 'peak tfjs bytes in one gqSearch call (MiB)', 'tf tensors at end', 'tf MiB at end'],
      digits: [1, 1, 1, 0, 2],
      rows: [[result.memory.peakRssMiB, result.memory.rssMiB, search.peakTensorBytes / 2 ** 20, result.memory.tfNumTensors, result.memory.tfNumBytes / 2 ** 20]],
    },
  ];
  const svgs = {
    'speed-search.svg': barPlot({
      title: `GQ search, N = ${search.rows}, K = ${search.size}, m = ${search.dim}`,
      xLabel: 'path',
      yLabel: 'log10 ms per 1024 queries',
      categories: search.m16.map((_, i) => `#${i + 1}`),
      series: [{ name: 'log10 ms / 1024 q', values: search.m16.map((t) => Math.log10(t.secondsPerQuery * 1024 * 1000)) }],
    }),
  };
  return run.finish({
    tables,
    plots: [{ file: 'speed-search.svg', title: 'Search time per path (bars numbered as the table rows)' }],
    svgs,
    results: [result],
    notes: [
      `Backends importable here: ${result.backendsAvailable.join(', ')}; measured: search on ${usable(s.searchBackends).join(', ')}, training on ${usable(s.trainBackends).join(', ')}, tokenizer on ${usable(s.tokenizerBackends).join(', ')}.`,
      'Times are the best of 2 (naive and the float64 scan: 1) after a warm-up call; the machine is shared, so they are noisy. Ratios compare rows of the same run.',
      'The naive formulation is timed on its first rows only (it materialises rows·K·m floats); its speed-up is per query.',
    ],
  });
}

function runKeyOfSpeed(ctx: BenchContext): string {
  const s = ctx.size.speed;
  // The size's own name only: overrides such as the seed count do not change what speed measures.
  return `${ctx.size.name.split('+')[0]}-${s.trainBackends.join('+')}-${s.tokenizerBackends.join('+')}-${s.searchBackends.join('+')}`.replace(/[^a-z0-9+.=-]/gi, '_');
}
