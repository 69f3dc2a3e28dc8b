import * as tf from '@tensorflow/tfjs-core';
import { LOG_VAR_MAX, LOG_VAR_MIN } from '@gq/core';
import { setupBackend } from '@gq/test-utils';
import { createCodebook, gqSearch, gqSearchCpu, wasmSimdSupported, type Codebook, type CpuSearchStats } from '@gq/codebook';

/*
 * GQ search speed, N = 1024 queries against K = 65 536 codewords of m = 16, in one run:
 * tfjs on wasm (chunked matMul + argMax), gqSearchCpu's default wasm SIMD kernel (float32 scores,
 * float64 re-ranking) and its float64 JS scan on one thread, and a naive formulation that
 * materialises N×K log-probabilities (as the reference does); then m = 1 sorted vs brute force,
 * and peak memory for N = 16 384. Ratios compare paths measured in this same run. The same
 * searches split over worker threads are measured by @gq/runtime's bench (ParallelSearch).
 */

const SIZE = 65536;
const DIM = 16;
const ROWS = Number(process.env.BENCH_ROWS ?? 1024);
const BETA = 1;

/** Deterministic queries in the regime GQ sees: μ ~ N(0, 1 − σ²) with σ = 0.5 (1 bit per dimension). */
function queries(rows: number, dim: number, seed: number): { mu: Float32Array; logVar: Float32Array } {
  let state = seed >>> 0;
  const uniform = (): number => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return (state + 0.5) / 4294967296;
  };
  const normal = (): number => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
  const mu = new Float32Array(rows * dim);
  const logVar = new Float32Array(rows * dim);
  for (let i = 0; i < mu.length; i++) {
    const sigma = 0.35 + 0.3 * uniform();
    mu[i] = Math.sqrt(1 - sigma * sigma) * normal();
    logVar[i] = 2 * Math.log(sigma);
  }
  return { mu, logVar };
}

async function time<T>(fn: () => Promise<T> | T, repeats = 3): Promise<{ seconds: number; value: T }> {
  let best = Infinity;
  let value: T | undefined;
  for (let r = 0; r < repeats; r++) {
    const start = performance.now();
    value = await fn();
    best = Math.min(best, (performance.now() - start) / 1000);
  }
  return { seconds: best, value: value! };
}

/** The reference's formulation: log N(c; μ, σ²) − β log N(c; 0, 1) for all [rows, K, m], summed, argmax. */
function naiveSearch(mu: tf.Tensor2D, logVar: tf.Tensor2D, codebook: tf.Tensor2D, beta: number, chunk: number): tf.Tensor1D {
  const rows = mu.shape[0];
  const halfLog2Pi = 0.5 * Math.log(2 * Math.PI);
  const parts: tf.Tensor1D[] = [];
  for (let start = 0; start < rows; start += chunk) {
    const count = Math.min(chunk, rows - start);
    parts.push(
      tf.tidy(() => {
        const m = tf.expandDims(tf.slice(mu, [start, 0], [count, -1]), 1);
        const lv = tf.expandDims(tf.clipByValue(tf.slice(logVar, [start, 0], [count, -1]), LOG_VAR_MIN, LOG_VAR_MAX), 1);
        const c = tf.expandDims(codebook, 0);
        const logPosterior = tf.sub(tf.mul(tf.div(tf.square(tf.sub(c, m)), tf.exp(lv)), -0.5), tf.add(tf.mul(lv, 0.5), halfLog2Pi));
        const logPrior = tf.sub(tf.mul(tf.square(c), -0.5), halfLog2Pi);
        return tf.argMax(tf.sum(tf.sub(logPosterior, tf.mul(logPrior, beta)), 2), 1) as tf.Tensor1D;
      }),
    );
  }
  const all = tf.concat(parts, 0);
  tf.dispose(parts);
  return all;
}

function agreement(a: ArrayLike<number>, b: ArrayLike<number>): string {
  let same = 0;
  for (let i = 0; i < a.length; i++) if (a[i] === b[i]) same++;
  return `${same}/${a.length}`;
}

const fmt = (s: number): string => `${s.toFixed(3)} s`;

async function main(): Promise<void> {
  console.log(`GQ search bench: N=${ROWS}, K=${SIZE}, m=${DIM}, beta=${BETA}. Shared machine: timings are noisy.`);
  let start = performance.now();
  const codebook: Codebook = createCodebook({ size: SIZE, dim: DIM, seed: 42, method: 'sobol' });
  console.log(`createCodebook sobol 65536x16: ${((performance.now() - start) / 1000).toFixed(3)} s`);
  const { mu, logVar } = queries(ROWS, DIM, 1);

  await setupBackend('wasm');
  console.log(`backend: ${tf.getBackend()}`);
  const muTensor = tf.tensor2d(mu, [ROWS, DIM]);
  const logVarTensor = tf.tensor2d(logVar, [ROWS, DIM]);
  (await gqSearch(muTensor, logVarTensor, codebook, { beta: BETA })).dispose();
  const wasm = await time(async () => {
    const indices = await gqSearch(muTensor, logVarTensor, codebook, { beta: BETA });
    const data = await indices.data();
    indices.dispose();
    return data;
  });

  if (!wasmSimdSupported()) console.log('WebAssembly SIMD unavailable: gqSearchCpu falls back to its float64 JS scan');
  gqSearchCpu(mu.subarray(0, DIM), logVar.subarray(0, DIM), codebook);
  gqSearchCpu(mu.subarray(0, DIM), logVar.subarray(0, DIM), codebook, { algorithm: 'exhaustive-js' });
  const stats: CpuSearchStats = {};
  const simd1 = await time(() => gqSearchCpu(mu, logVar, codebook, { beta: BETA, stats }), 3);
  const js1 = await time(() => gqSearchCpu(mu, logVar, codebook, { beta: BETA, algorithm: 'exhaustive-js' }), 1);

  const chunk = 32; // [32, 65536, 16] float32 = 128 MiB per intermediate, within the wasm heap
  const codebookTensor = tf.tensor2d(codebook.values, [SIZE, DIM]);
  const naive = await time(async () => {
    const indices = naiveSearch(muTensor, logVarTensor, codebookTensor, BETA, chunk);
    const data = await indices.data();
    indices.dispose();
    return data;
  }, 1);

  console.log(
    '\npath (best of repeats)                    time    vs tfjs-wasm 1t  vs float64 JS (same threads)  agrees with float64 JS',
  );
  const row = (name: string, seconds: number, indices: ArrayLike<number>, jsSeconds?: number): void =>
    console.log(
      `${name.padEnd(40)} ${fmt(seconds).padStart(8)}  ${(wasm.seconds / seconds).toFixed(2).padStart(8)}x` +
        `  ${(jsSeconds === undefined ? '' : `${(jsSeconds / seconds).toFixed(1)}x`).padStart(16)}              ${agreement(indices, js1.value)}`,
    );
  row('naive N×K×m log-probs, tfjs wasm', naive.seconds, naive.value);
  row('tfjs wasm matMul [N,2m]x[2m,K]+argMax', wasm.seconds, wasm.value);
  row('gqSearchCpu wasm SIMD, 1 thread', simd1.seconds, simd1.value, js1.seconds);
  row('gqSearchCpu float64 JS scan, 1 thread', js1.seconds, js1.value, js1.seconds);
  console.log(
    `SIMD pass: ${stats.kernel}, ${((stats.rescored ?? 0) / ROWS).toFixed(1)} candidates re-scored in float64 per row, ` +
      `${stats.rerunRows} rows re-run, ${stats.float64Rows} rows fully in float64`,
  );
  console.log(`target for gqSearchCpu: <= 0.3 s on one core (two cores: pnpm --filter @gq/runtime bench:search)`);

  // m = 1: sorted O(log K) search against the exhaustive scan, K = 2^16.
  const scalar = createCodebook({ size: SIZE, dim: 1, seed: 42, method: 'normal' });
  const scalarQueries = queries(4096, 1, 2);
  gqSearchCpu(scalarQueries.mu.subarray(0, 1), scalarQueries.logVar.subarray(0, 1), scalar);
  gqSearchCpu(scalarQueries.mu.subarray(0, 1), scalarQueries.logVar.subarray(0, 1), scalar, { algorithm: 'exhaustive-js' });
  const sorted = await time(() => gqSearchCpu(scalarQueries.mu, scalarQueries.logVar, scalar, { beta: BETA, algorithm: 'sorted' }));
  const brute = await time(() => gqSearchCpu(scalarQueries.mu, scalarQueries.logVar, scalar, { beta: BETA, algorithm: 'exhaustive-js' }), 1);
  console.log(
    `\nm=1, K=65536, 4096 queries: sorted ${fmt(sorted.seconds)}, float64 brute force ${fmt(brute.seconds)}, ` +
      `speed-up ${(brute.seconds / sorted.seconds).toFixed(0)}x, identical: ${agreement(sorted.value, brute.value)}`,
  );

  // Peak memory for N = 16 384.
  const big = queries(16384, DIM, 3);
  const bigMu = tf.tensor2d(big.mu, [16384, DIM]);
  const bigLogVar = tf.tensor2d(big.logVar, [16384, DIM]);
  start = performance.now();
  const profile = await tf.profile(async () => {
    const indices = await gqSearch(bigMu, bigLogVar, codebook, { beta: BETA });
    await indices.data();
    indices.dispose();
  });
  const tfSeconds = (performance.now() - start) / 1000;
  // gqSearchCpu's scratch is O(1024 rows), independent of N; measuring a 1024-row slice of the
  // N = 16 384 input keeps the bench short (the whole input would take ~16x the N = 1024 time).
  const before = process.memoryUsage();
  start = performance.now();
  gqSearchCpu(big.mu, big.logVar, codebook, { beta: BETA, rowStart: 0, rowEnd: 1024 });
  const cpuSeconds = (performance.now() - start) / 1000;
  const after = process.memoryUsage();
  const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
  console.log(`\nN=16384: tfjs wasm ${fmt(tfSeconds)}, peak tensor bytes ${mib(profile.peakBytes)} (64 MiB score chunk + Φ + inputs)`);
  console.log(
    `N=16384: gqSearchCpu rows 0..1023 ${fmt(cpuSeconds)}, array-buffer growth ${mib(after.arrayBuffers - before.arrayBuffers)} ` +
      `(output [N] int32 + O(1024-row) scratch), rss ${mib(after.rss)}; kernel memory (Φ K·2m float32 + 1024-row scratch) ` +
      `${mib(SIZE * 2 * DIM * 4 + 1024 * (2 * DIM * 4 + 16 + 256))}, built once per codebook`,
  );
  tf.dispose([muTensor, logVarTensor, codebookTensor, bigMu, bigLogVar]);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
