/*
 * pnpm --filter @gq/vae-unet bench:engine [--models unet-tiny32,unet-cpu32,vit-cpu32] [--steps N] [--workers 0|2]
 *
 * The training engine on the models users train (UNet tiny32 and cpu32, ViT cpu32; batch 32 of
 * 32×32 RGB; mean L1 + 0.1·KL, Adam): train ms/step and encode/decode images/s on one thread
 * (this one) and on two worker threads, each with the engine's layer kernels and Winograd
 * convolutions ('fused'), the same with separate multiplies and adds in the matrix products
 * ('separate'), with the layer kernels but direct convolutions ('direct'), and without
 * them ('composed', the engine before they existed), interleaved in one run and reported as
 * medians; then a per-kernel profile of a step of each (the median of three) with the share of time in
 * convolution/matrix-product kernels, their rate in GFLOP/s, and per target the bound set by the
 * best rate measured in the same run. On a shared machine only ratios within one run mean much.
 */
import * as tf from '@tensorflow/tfjs-core';
import { createAdam, ensureGradients, gemmFusesMultiplyAdd, registerTrainingKernels, useBackend } from '@gq/runtime';
import { convolutionShare, profileKernels, type KernelTiming } from '@gq/runtime/internal';
import { DataParallelTrainer, WorkerPool, type StepTiming } from '@gq/runtime/parallel';
import { benchModels, createBenchModel, type BenchModel, type BenchModelName } from './engine-model.js';
import type { EngineBenchOptions } from './engine-replica.js';
import { gemmRate, type EngineWorkerCalls } from './engine-worker.js';

function option(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : fallback;
}

const batch = 32;
const side = 32;
const steps = Number(option('steps', '5'));
const workers = Number(option('workers', '2'));
const models = option('models', benchModels.join(',')).split(',') as BenchModelName[];
const variants = [
  { label: 'fused', fused: true, winograd: true, fusedMultiplyAdd: true },
  { label: 'separate', fused: true, winograd: true, fusedMultiplyAdd: false },
  { label: 'direct', fused: true, winograd: false, fusedMultiplyAdd: true },
  { label: 'composed', fused: false, winograd: false, fusedMultiplyAdd: false },
] as const;
type Variant = (typeof variants)[number]['label'];

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Seeded smooth-ish images in [−1, 1] (the content does not change the work). */
function images(seed: number): Float32Array {
  let state = seed >>> 0;
  const out = new Float32Array(batch * side * side * 3);
  for (let i = 0; i < out.length; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    out[i] = Math.sin(i / 97) * 0.6 + (state / 2 ** 32 - 0.5) * 0.4;
  }
  return out;
}

async function timeMs(run: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await run();
  return performance.now() - start;
}

/** One value per variant. */
function perVariant<T>(make: (variant: (typeof variants)[number]) => T): Record<Variant, T> {
  return Object.fromEntries(variants.map((v) => [v.label, make(v)])) as Record<Variant, T>;
}

/**
 * Warm-up calls per variant before timing on worker threads: each worker compiles its own
 * WebAssembly (V8 first runs it unoptimised and optimises it in background threads that share the
 * two cores), so its first steps run slower than a training run's thousands; one thread reuses the
 * main thread's modules, warm after one call.
 */
const workerWarmups = 3;

/** Run each variant's `run` once per round, alternating, after `warmups` calls each; medians in ms. */
async function interleavedTimes(run: Record<Variant, () => Promise<number>>, rounds: number, warmups = 1): Promise<Record<Variant, number>> {
  const times = perVariant((): number[] => []);
  for (const v of variants) for (let i = 0; i < warmups; i++) await run[v.label]();
  for (let r = 0; r < rounds; r++) for (const v of variants) times[v.label].push(await run[v.label]());
  return perVariant((v) => median(times[v.label]));
}

/** `interleavedTimes` of runs timed from outside. */
function interleaved(run: Record<Variant, () => Promise<unknown>>, rounds: number, warmups = 1): Promise<Record<Variant, number>> {
  return interleavedTimes(perVariant((v) => () => timeMs(run[v.label])), rounds, warmups);
}

interface OneThread {
  readonly model: BenchModel;
  readonly optimizer: tf.Optimizer;
  step: number;
}

async function trainStep(state: OneThread, x: tf.Tensor4D): Promise<void> {
  const loss = state.optimizer.minimize(() => state.model.loss(x, ++state.step), true, Object.values(state.model.params));
  await loss!.data();
  loss!.dispose();
}

/** Encode `x` (reading μ and log σ² back), or decode `latent` (reading the images back). */
async function encodeDecode(model: BenchModel, x: tf.Tensor4D, latent: tf.Tensor, what: 'encode' | 'decode'): Promise<void> {
  const outputs = what === 'encode' ? Object.values(model.encode(x)) : [model.decode(latent)];
  await Promise.all(outputs.map((t) => t.data()));
  tf.dispose(outputs);
}

/** Switch this thread's wasm backend between the variants. */
function use(variant: Variant): void {
  const { fused, winograd, fusedMultiplyAdd } = variants.find((v) => v.label === variant)!;
  registerTrainingKernels({ fused, winograd, fusedMultiplyAdd });
}

function withKernels(variant: Variant, run: () => Promise<unknown>): () => Promise<unknown> {
  return async () => {
    use(variant);
    await run();
  };
}

/** Steps profiled per variant; the one with the median wall time is reported (a slow spell of the machine moves one step). */
const profiledSteps = 3;

async function profileStep(state: OneThread, x: tf.Tensor4D, variant: Variant): Promise<{ rows: KernelTiming[]; ms: number }> {
  use(variant);
  const profile = profileKernels();
  try {
    const steps: { rows: KernelTiming[]; ms: number }[] = [];
    for (let i = 0; i < profiledSteps; i++) {
      profile.reset();
      const ms = await timeMs(() => trainStep(state, x));
      steps.push({ rows: profile.read(), ms });
    }
    return steps.sort((a, b) => a.ms - b.ms)[Math.floor(profiledSteps / 2)]!;
  } finally {
    profile.stop();
  }
}

/**
 * The 512³ product's rate on one thread alone, and on `workers` worker threads at once (their sum):
 * how much dense arithmetic the cores give together, which bounds any data-parallel step. Worker 0
 * alone and all workers together alternate three times; each figure is the median of its three, so
 * a slow spell of the machine moves both.
 */
async function productRates(): Promise<{ one: number; together: number }> {
  if (workers < 2) {
    const one = await gemmRate(512, 20);
    return { one, together: one };
  }
  const pool = await WorkerPool.create<EngineWorkerCalls, EngineBenchOptions>({
    module: new URL('./engine-worker.ts', import.meta.url),
    workers,
    options: { model: models[0]!, seed: 1, fused: true },
  });
  try {
    const all = Array.from({ length: workers }, (_, w) => w);
    await Promise.all(all.map((w) => pool.request(w, 'gemm', { reps: 1 })));
    const alone: number[] = [];
    const together: number[] = [];
    for (let round = 0; round < 3; round++) {
      alone.push(await pool.request(0, 'gemm', { reps: 20 }));
      // Many products each, so that the threads overlap for nearly all of their timed products.
      together.push((await Promise.all(all.map((w) => pool.request(w, 'gemm', { reps: 20 })))).reduce((a, b) => a + b, 0));
    }
    return { one: median(alone), together: median(together) };
  } finally {
    await pool.close();
  }
}

interface StepProfile {
  readonly name: BenchModelName;
  readonly variant: Variant;
  readonly rows: KernelTiming[];
  readonly ms: number;
}

/** FLOP/s of one profiled kernel row (0 when it does no counted work or took under 5 ms). */
const rowRate = (r: KernelTiming): number => (r.flops > 0 && r.ms >= 5 ? (r.flops / r.ms) * 1000 : 0);

/**
 * The best rate this run showed for counted work: the 512³ product, or any kernel of a profiled
 * step that did at least 5 ms of it. Dividing a workload's FLOPs by it bounds what this engine
 * could reach if every convolution and product ran that fast and nothing else took time.
 */
function bestRate(reference: number, profiles: readonly StepProfile[]): number {
  return Math.max(reference, ...profiles.flatMap((p) => p.rows.map(rowRate)));
}

function formatProfile({ name, variant, rows, ms }: StepProfile, reference: number, best: number): string {
  const inKernels = rows.reduce((s, r) => s + r.ms, 0);
  const flops = rows.reduce((s, r) => s + r.flops, 0);
  const convMs = rows.filter((r) => r.flops > 0).reduce((s, r) => s + r.ms, 0);
  const lines = [
    `\n${name}, ${variant}: one train step ${ms.toFixed(0)} ms wall, ${inKernels.toFixed(0)} ms in kernels, ` +
      `conv/matmul share ${(100 * convolutionShare(rows)).toFixed(1)} % of kernel time; ` +
      `${(flops / 1e9).toFixed(2)} GFLOP of convolutions and products at ${(flops / convMs / 1e6).toFixed(1)} GFLOP/s ` +
      `(the 512³ product: ${(reference / 1e9).toFixed(1)} GFLOP/s; the best rate in this run, ${(best / 1e9).toFixed(1)} GFLOP/s, would do that work alone in ${((flops / best) * 1000).toFixed(0)} ms)`,
    '| kernel | calls | ms | share | GFLOP/s |',
    '|---|---:|---:|---:|---:|',
  ];
  for (const r of rows.slice(0, 14)) {
    const rate = r.flops > 0 ? (r.flops / r.ms / 1e6).toFixed(1) : '';
    lines.push(`| ${r.kernel} | ${r.calls} | ${r.ms.toFixed(1)} | ${((100 * r.ms) / inKernels).toFixed(1)} % | ${rate} |`);
  }
  return lines.join('\n');
}

interface Row {
  readonly model: string;
  readonly work: string;
  readonly unit: string;
  readonly values: Record<Variant, number>;
}

/** FLOPs of one batch of each work item of a model (counted by the kernel profile). */
type WorkFlops = Record<'train' | 'encode' | 'decode', number>;

async function countFlops(run: () => Promise<unknown>): Promise<number> {
  const profile = profileKernels();
  try {
    await run();
    return profile.read().reduce((s, r) => s + r.flops, 0);
  } finally {
    profile.stop();
  }
}

async function oneThread(name: BenchModelName, rows: Row[], profiles: StepProfile[], flops: Map<BenchModelName, WorkFlops>): Promise<void> {
  const model = createBenchModel(name, 1);
  // One model; each variant keeps its own optimizer (the engine's fused Adam, or tfjs's own).
  const states = perVariant((v): OneThread => ({ model, optimizer: v.fused ? createAdam(1e-3) : tf.train.adam(1e-3), step: 0 }));
  const x = tf.tensor4d(images(3), [batch, side, side, 3]);
  const moments = model.encode(x);
  try {
    const train = await interleaved(perVariant((v) => withKernels(v.label, () => trainStep(states[v.label], x))), steps);
    rows.push({ model: name, work: 'train step, 1 thread', unit: 'ms', values: train });
    for (const what of ['encode', 'decode'] as const) {
      const run = (): Promise<void> => encodeDecode(model, x, moments.mu, what);
      const ms = await interleaved(perVariant((v) => withKernels(v.label, run)), steps);
      rows.push({ model: name, work: `${what}, 1 thread`, unit: 'img/s', values: ms });
    }
    for (const v of variants) profiles.push({ name, variant: v.label, ...(await profileStep(states[v.label], x, v.label)) });
    use('fused');
    flops.set(name, {
      train: profiles.find((p) => p.name === name && p.variant === 'fused')!.rows.reduce((s, r) => s + r.flops, 0),
      encode: await countFlops(() => encodeDecode(model, x, moments.mu, 'encode')),
      decode: await countFlops(() => encodeDecode(model, x, moments.mu, 'decode')),
    });
  } finally {
    use('fused');
    tf.dispose([x, moments.mu, moments.logVar]);
    for (const v of variants) states[v.label].optimizer.dispose();
    model.dispose();
  }
}

/** Medians of the 'fused' variant's two-worker step timings (`StepResult.timing`) per model. */
interface WorkerBreakdown {
  readonly name: BenchModelName;
  /** Slowest worker's compute, slowest worker's pack, average, slowest apply, rest (messages and waiting), total; ms. */
  readonly compute: number;
  readonly pack: number;
  readonly average: number;
  readonly apply: number;
  readonly rest: number;
  readonly total: number;
}

function breakdownOf(name: BenchModelName, timings: readonly StepTiming[]): WorkerBreakdown {
  const slowest = (list: readonly number[]): number => Math.max(...list);
  const parts = timings.map((t) => {
    const compute = slowest(t.computeMs);
    const pack = slowest(t.packMs);
    const apply = slowest(t.applyMs);
    return { compute, pack, average: t.averageMs, apply, rest: t.totalMs - compute - pack - t.averageMs - apply, total: t.totalMs };
  });
  const of = (key: keyof (typeof parts)[number]): number => median(parts.map((p) => p[key]));
  return { name, compute: of('compute'), pack: of('pack'), average: of('average'), apply: of('apply'), rest: of('rest'), total: of('total') };
}

function formatBreakdowns(breakdowns: readonly WorkerBreakdown[]): string[] {
  return [
    `
Where a ${workers}-worker step's time goes ('fused', medians; compute, pack and apply are the slowest worker's, rest is messages and waiting):`,
    '| model | compute | pack | average | apply | rest | total |',
    '|---|---:|---:|---:|---:|---:|---:|',
    ...breakdowns.map(
      (b) => `| ${b.name} | ${b.compute.toFixed(0)} ms | ${b.pack.toFixed(1)} ms | ${b.average.toFixed(1)} ms | ${b.apply.toFixed(1)} ms | ${b.rest.toFixed(1)} ms | ${b.total.toFixed(0)} ms |`,
    ),
  ];
}

async function twoWorkers(name: BenchModelName, rows: Row[], breakdowns: WorkerBreakdown[]): Promise<void> {
  const data = images(3);
  const per = batch / workers;
  const shards = Array.from({ length: workers }, (_, w) => ({
    images: { shape: [per, side, side, 3], data: data.slice(w * per * side * side * 3, (w + 1) * per * side * side * 3) },
  }));
  const options = (v: (typeof variants)[number]): EngineBenchOptions => ({ model: name, seed: 1, fused: v.fused, winograd: v.winograd, fusedMultiplyAdd: v.fusedMultiplyAdd });
  const trainers = perVariant(() => undefined as DataParallelTrainer | undefined);
  try {
    for (const v of variants) {
      trainers[v.label] = await DataParallelTrainer.create({ replicaModule: new URL('./engine-replica.ts', import.meta.url), workers, backend: 'wasm', replicaOptions: options(v) });
    }
    const timings: StepTiming[] = [];
    const step = (v: (typeof variants)[number]) => async () => {
      const result = await trainers[v.label]!.step(shards);
      if (v.label === 'fused') timings.push(result.timing);
    };
    const train = await interleaved(perVariant(step), steps, workerWarmups);
    rows.push({ model: name, work: `train step, ${workers} workers`, unit: 'ms', values: train });
    breakdowns.push(breakdownOf(name, timings.slice(workerWarmups)));
  } finally {
    await Promise.all(variants.map((v) => trainers[v.label]?.dispose()));
  }
  const pools = perVariant(() => undefined as WorkerPool<EngineWorkerCalls> | undefined);
  try {
    for (const v of variants) {
      pools[v.label] = await WorkerPool.create<EngineWorkerCalls, EngineBenchOptions>({ module: new URL('./engine-worker.ts', import.meta.url), workers, options: options(v) });
    }
    for (const what of ['encode', 'decode'] as const) {
      const run = (pool: WorkerPool<EngineWorkerCalls>) => async () => {
        if (what === 'decode') await Promise.all(shards.map((s, w) => pool.request(w, 'encode', { images: s.images.data, shape: s.images.shape })));
        const start = performance.now();
        await Promise.all(
          shards.map((s, w) => (what === 'encode' ? pool.request(w, 'encode', { images: s.images.data, shape: s.images.shape }) : pool.request(w, 'decode'))),
        );
        return performance.now() - start;
      };
      const values = await interleavedTimes(perVariant((v) => run(pools[v.label]!)), steps, workerWarmups);
      rows.push({ model: name, work: `${what}, ${workers} workers`, unit: 'img/s', values });
    }
  } finally {
    await Promise.all(variants.map((v) => pools[v.label]?.close()));
  }
}

/**
 * PyTorch 2.13 (CPU) on a quiet 2-core machine of the development machine's kind: the same
 * encoder/decoder architectures and parameter counts, batch 32 of 32×32 RGB, mean L1 + 0.1·KL,
 * Adam; [1 thread, 2 threads]. Train in ms/step, encode/decode in images/s.
 */
const pytorch: Partial<Record<BenchModelName, Record<'train' | 'encode' | 'decode', readonly [number, number]>>> = {
  'unet-tiny32': { train: [230, 136], encode: [1606, 2679], decode: [574, 1037] },
  'unet-cpu32': { train: [497, 284], encode: [799, 1448], decode: [271, 504] },
};

/**
 * This engine against PyTorch with the targets: a train step within 2× PyTorch's time, encode/decode
 * at ≥ 0.5× its images/s. Beside each, the bound: the work's counted FLOPs at `best` FLOP/s on one
 * thread, or `scaling` times that on the workers, with nothing else taking time; a target beyond the bound
 * cannot be met by running the same convolutions faster, only by doing fewer operations.
 */
function pytorchTable(rows: readonly Row[], flops: ReadonlyMap<BenchModelName, WorkFlops>, best: number, scaling: number): string[] {
  const lines = [
    '\nAgainst PyTorch 2.13 CPU (same architectures, batch 32; 1 thread vs 1 thread, 2 workers vs 2 threads). Target: train ≤ 2× PyTorch\'s ms, encode/decode ≥ 0.5× its images/s. ' +
      `Bound: the work's convolution and product FLOPs at ${(best / 1e9).toFixed(1)} GFLOP/s (the best rate in this run) on 1 thread, ` +
      `and at ${scaling.toFixed(2)}× that on ${workers} workers (what ${workers} threads multiplying at once gave together), with nothing else taking time.`,
    '| model | work | this engine | PyTorch | PyTorch / this | target | target met | bound | target within bound |',
    '|---|---|---:|---:|---:|---:|---|---:|---|',
  ];
  for (const row of rows) {
    const reference = pytorch[row.model as BenchModelName];
    if (reference === undefined) continue;
    const kind = row.work.split(',')[0]!.startsWith('train') ? 'train' : row.work.startsWith('encode') ? 'encode' : 'decode';
    const value = reference[kind][row.work.includes('1 thread') ? 0 : 1];
    const ours = row.values.fused;
    // Ratio of speeds (PyTorch's speed / ours): > 1 means PyTorch is faster.
    const slower = row.unit === 'ms' ? ours / value : value / ((batch * 1000) / ours);
    const met = row.unit === 'ms' ? ours <= 2 * value : (batch * 1000) / ours >= 0.5 * value;
    const target = row.unit === 'ms' ? `≤ ${2 * value} ms` : `≥ ${Math.round(0.5 * value)} img/s`;
    const work = flops.get(row.model as BenchModelName)?.[kind];
    const speed = row.work.includes('1 thread') ? 1 : scaling;
    // Bound in ms per batch of 32: the work at `best` FLOP/s, times the measured multi-thread scaling.
    const boundMs = work !== undefined ? (work / (best * speed)) * 1000 : undefined;
    const bound = boundMs === undefined ? '' : row.unit === 'ms' ? `${boundMs.toFixed(0)} ms` : `${((batch * 1000) / boundMs).toFixed(0)} img/s`;
    const within = boundMs === undefined ? '' : (row.unit === 'ms' ? 2 * value >= boundMs : 0.5 * value <= (batch * 1000) / boundMs) ? 'yes' : 'no';
    lines.push(
      `| ${row.model} | ${row.work} | ${formatValue(row, ours)} | ${row.unit === 'ms' ? `${value} ms` : `${value} img/s`} | ${slower.toFixed(2)}× | ${target} | ${met ? 'yes' : 'no'} | ${bound} | ${within} |`,
    );
  }
  return lines;
}

function formatValue(row: Row, ms: number): string {
  return row.unit === 'ms' ? `${ms.toFixed(0)} ms` : `${((batch * 1000) / ms).toFixed(0)} img/s`;
}

async function main(): Promise<void> {
  await useBackend('wasm');
  await ensureGradients();
  registerTrainingKernels();
  console.log(
    `wasm backend, batch ${batch}, ${side}×${side} RGB, medians of ${steps} interleaved runs after one warm-up each (${workerWarmups} on worker threads). ` +
      "'fused' = this engine; 'separate' = the same with registerTrainingKernels({ fusedMultiplyAdd: false }) (the products multiply, then add); " +
      "'direct' = the engine with registerTrainingKernels({ winograd: false }) (every convolution on wasm's direct kernel); " +
      "'composed' = registerTrainingKernels({ fused: false }) (layers as tfjs op chains, wasm's own matrix products, sums and convolutions) and tfjs's own Adam. " +
      'Shared machine: compare the two columns of one run; absolute numbers need a quiet machine.\n',
  );
  console.log(`Matrix products multiply–add ${gemmFusesMultiplyAdd() ? 'fused (relaxed SIMD)' : 'separately (no relaxed SIMD here)'}.\n`);
  const rows: Row[] = [];
  const profiles: StepProfile[] = [];
  const flops = new Map<BenchModelName, WorkFlops>();
  const breakdowns: WorkerBreakdown[] = [];
  const rates = await productRates();
  const reference = rates.one;
  console.log(
    `512³ product: ${(rates.one / 1e9).toFixed(1)} GFLOP/s on one thread` +
      (workers > 1 ? `, ${(rates.together / 1e9).toFixed(1)} GFLOP/s in all on ${workers} threads at once (${(rates.together / rates.one).toFixed(2)}× one)` : '') +
      '\n',
  );
  for (const name of models) {
    await oneThread(name, rows, profiles, flops);
    if (workers > 1) await twoWorkers(name, rows, breakdowns);
  }
  console.log('| model | work | fused | separate | direct | composed | separate / fused | direct / fused | composed / fused |');
  console.log('|---|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const row of rows) {
    const values = row.values;
    console.log(
      `| ${row.model} | ${row.work} | ${formatValue(row, values.fused)} | ${formatValue(row, values.separate)} | ${formatValue(row, values.direct)} | ${formatValue(row, values.composed)} | ` +
        `${(values.separate / values.fused).toFixed(2)}× | ${(values.direct / values.fused).toFixed(2)}× | ${(values.composed / values.fused).toFixed(2)}× |`,
    );
  }
  const best = bestRate(reference, profiles);
  if (workers > 1) for (const line of [...pytorchTable(rows, flops, best, rates.together / rates.one), ...formatBreakdowns(breakdowns)]) console.log(line);
  for (const p of profiles) console.log(formatProfile(p, reference, best));
}

await main();
