import { createCodebook, gqSearchCpu } from '@gq/codebook';
import { seededNormal, seededRandom } from '@gq/test-utils';
import { medianMs } from '@gq/test-utils/bench';
import { ParallelSearch } from '@gq/runtime/parallel';

/*
 * Exact GQ search split over worker threads (ParallelSearch) against one thread, in one run:
 * median times, N = 1024 queries (BENCH_ROWS), K = 65 536 codewords of m = 16, β = 1. Each row's indices are
 * compared with the single-thread float64 scan (the independent exact path).
 */

const spec = { size: 65536, dim: 16, seed: 42, method: 'sobol' } as const;
const rows = Number(process.env.BENCH_ROWS ?? 1024);
const normal = seededNormal(7);
const uniform = seededRandom(8);
// μ ~ N(0, 1 − σ²) with σ ∈ [0.35, 0.65]: the regime GQ sees at about one bit per dimension.
const sigma = Float32Array.from({ length: rows * spec.dim }, () => 0.35 + 0.3 * uniform());
const mu = Float32Array.from(sigma, (s) => Math.sqrt(1 - s * s) * normal());
const logVar = Float32Array.from(sigma, (s) => 2 * Math.log(s));

/** Median wall time of `repeats` runs, and the result of the last (every run returns the same indices). */
async function timed(repeats: number, fn: () => Promise<Int32Array> | Int32Array): Promise<{ seconds: number; value: Int32Array }> {
  let value: Int32Array | undefined;
  const ms = await medianMs(async () => {
    value = await fn();
  }, repeats);
  return { seconds: ms / 1000, value: value! };
}

const codebook = createCodebook(spec);
const reference = await timed(1, () => gqSearchCpu(mu, logVar, codebook, { algorithm: 'exhaustive-js' }));
const single = await timed(3, () => gqSearchCpu(mu, logVar, codebook));
const agree = (indices: Int32Array): string => `${indices.filter((v, i) => v === reference.value[i]).length}/${rows}`;

console.log(`GQ search, N = ${rows}, K = ${spec.size}, m = ${spec.dim}; ratios against gqSearchCpu on one thread, same run`);
console.log('path                                     time (s)  speed-up  agrees with float64 scan');
const line = (name: string, seconds: number, indices: Int32Array): void =>
  console.log(`${name.padEnd(40)} ${seconds.toFixed(3).padStart(8)}  ${(single.seconds / seconds).toFixed(2).padStart(7)}x  ${agree(indices)}`);
line('gqSearchCpu, 1 thread', single.seconds, single.value);
for (const [name, options] of [
  ['ParallelSearch cpu, 2 threads', { threads: 2 }],
  ['ParallelSearch cpu float64 scan, 2 thr.', { threads: 2, algorithm: 'exhaustive-js' }],
  ['ParallelSearch tfjs wasm, 2 threads', { threads: 2, engine: 'tfjs', backend: 'wasm' }],
] as const) {
  const search = await ParallelSearch.create(spec, options);
  try {
    const result = await timed(name.includes('float64') ? 1 : 3, () => search.search(mu, logVar, { beta: 1 }));
    line(name, result.seconds, result.value);
  } finally {
    await search.close();
  }
}
line('gqSearchCpu float64 scan, 1 thread', reference.seconds, reference.value);
