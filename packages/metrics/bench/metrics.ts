import * as tf from '@tensorflow/tfjs-core';
import { useBackend, type BackendName } from '@gq/runtime';
import { benchFlag, medianMs, seededNormal, seededRandom } from '@gq/test-utils/bench';
import {
  LargeErrorBins,
  MomentAccumulator,
  frechetDistanceFromMoments,
  msSsim,
  psnr,
  ssim,
  theorem31Bound,
} from '@gq/metrics';
import { ssimOracle, type Image64 } from '../test/oracle.js';

/*
 * pnpm --filter @gq/metrics bench [-- --runs N]
 * 1. PSNR / SSIM / MS-SSIM time per image on the cpu and wasm backends. Baseline, same run: a
 *    plain float64 JS valid-mode SSIM (the test oracle) on the same images.
 * 2. Fréchet distance in float64 at D = 64 and 256 (moments + Jacobi square root).
 * 3. The K-sweep data for the Theorem 3.1 plot: simulated GQ (m = 1, nearest rule, i.i.d. N(0,1)
 *    codebooks, σ² = 2^−2T, μ ~ N(0, 1 − σ²), T = 8) for log2 K = T − 3 … T + 3, P̂ per K and per
 *    0.5-nat bin of slack t_u against the bound at the bin's lower edge.
 */
const runs = benchFlag('runs', 5);
const median = (run: () => unknown): Promise<number> => medianMs(run, runs);

async function imageBench(backend: BackendName): Promise<void> {
  await useBackend(backend);
  console.log(`\n## image metrics on ${tf.getBackend()} (ms per image, median of ${runs})`);
  const rand = seededRandom(1);
  for (const [batch, size] of [[16, 32], [2, 256]] as const) {
    const n = batch * size * size * 3;
    const a = Float32Array.from({ length: n }, () => rand() * 2 - 1);
    const b = a.map((v) => v + 0.1 * (rand() - 0.5));
    const x = tf.tensor4d(a, [batch, size, size, 3]);
    const y = tf.tensor4d(b, [batch, size, size, 3]);
    const first: Image64 = { height: size, width: size, channels: 3, data: Float64Array.from(a.subarray(0, n / batch), (v) => (v + 1) * 127.5) };
    const second: Image64 = { height: size, width: size, channels: 3, data: Float64Array.from(b.subarray(0, n / batch), (v) => (v + 1) * 127.5) };
    const baseline = await median(() => ssimOracle(first, second));
    const tPsnr = (await median(() => psnr(x, y))) / batch;
    const tSsim = (await median(() => ssim(x, y))) / batch;
    let line = `${batch}×${size}²×3  psnr ${tPsnr.toFixed(3)}  ssim ${tSsim.toFixed(3)}  float64-JS ssim baseline ${baseline.toFixed(3)}  (ssim ${(baseline / tSsim).toFixed(2)}× baseline speed)`;
    if (size >= 161) line += `  ms-ssim ${((await median(() => msSsim(x, y))) / batch).toFixed(3)}`;
    console.log(line);
    tf.dispose([x, y]);
  }
}

async function frechetBench(): Promise<void> {
  console.log('\n## Fréchet distance, float64 (ms, median)');
  let reference = 0;
  for (const dim of [64, 256]) {
    const normal = seededNormal(dim);
    const rows = 2 * dim;
    const features = Float64Array.from({ length: rows * dim }, () => normal());
    const other = features.map((v, i) => v * 1.1 + (i % dim) * 0.01);
    let accA = new MomentAccumulator(dim);
    let accB = new MomentAccumulator(dim);
    const tMoments = await median(() => {
      accA = new MomentAccumulator(dim).add(features);
      accB = new MomentAccumulator(dim).add(other);
    });
    const a = accA.moments();
    const b = accB.moments();
    const tDistance = await median(() => frechetDistanceFromMoments(a, b));
    if (dim === 64) reference = tDistance;
    console.log(
      `D=${dim}  moments of 2×${rows} rows ${tMoments.toFixed(1)}  distance ${tDistance.toFixed(1)}  (${(tDistance / reference).toFixed(1)}× D=64; O(D³) predicts ${((dim / 64) ** 3).toFixed(0)}×)  value ${frechetDistanceFromMoments(a, b).toFixed(4)}`,
    );
  }
}

function kSweep(): void {
  const target = 8;
  const tokensPerK = 20_000;
  console.log(`\n## K sweep, T = ${target} bits, m = 1, ${tokensPerK} tokens per K (i.i.d. N(0,1) codebooks, nearest rule)`);
  const normal = seededNormal(99);
  const bins = new LargeErrorBins({ binWidth: 0.5 });
  const sigma2 = 2 ** (-2 * target);
  const sigma = Math.sqrt(sigma2);
  let c1 = 0;
  for (let bitsK = target - 3; bitsK <= target + 3; bitsK++) {
    const k = 2 ** bitsK;
    const rates = new Float64Array(tokensPerK);
    const hits = new Int32Array(tokensPerK);
    let codebook = new Float64Array(0);
    for (let u = 0; u < tokensPerK; u++) {
      // A fresh codebook every 500 tokens: the theorem's probability includes the codebook draw.
      if (u % 500 === 0) codebook = Float64Array.from({ length: k }, () => normal()).sort();
      const mu = Math.sqrt(1 - sigma2) * normal();
      c1 = Math.max(c1, Math.abs(mu * sigma));
      rates[u] = (0.5 * (mu * mu + sigma2 - 1 - Math.log(sigma2))) / Math.LN2;
      let lo = 0;
      let hi = k - 1;
      while (hi - lo > 1) {
        const mid = (lo + hi) >> 1;
        if (codebook[mid]! < mu) lo = mid;
        else hi = mid;
      }
      const nearest = Math.min(Math.abs(codebook[lo]! - mu), Math.abs(codebook[hi]! - mu));
      hits[u] = nearest >= sigma ? 1 : 0;
    }
    let total = 0;
    let meanRate = 0;
    for (let u = 0; u < tokensPerK; u++) {
      total += hits[u]!;
      meanRate += rates[u]! / tokensPerK;
    }
    const tMean = Math.log(k) - meanRate * Math.LN2;
    console.log(
      `log2 K = ${bitsK} (T ${bitsK - target >= 0 ? '+' : ''}${bitsK - target})  P̂ = ${(total / tokensPerK).toFixed(3)}  R̄ = ${meanRate.toFixed(2)} bits  bound at t(R̄) = ${tMean >= 0 ? theorem31Bound(tMean).toFixed(3) : 'n/a'}`,
    );
    bins.add({ rates, largeErrors: hits, tokenDim: 1, codebookSize: k });
  }
  console.log(`pooled bins by t_u (nats); bound with c1 = 0 and with c1 = max|μσ| = ${c1.toFixed(4)}`);
  for (const row of bins.rows(c1)) {
    if (row.tokens < 100) continue;
    const bound0 = row.lower >= 0 ? theorem31Bound(row.lower) : null;
    console.log(
      `t ∈ [${row.lower.toFixed(1)}, ${row.upper.toFixed(1)})  tokens ${String(row.tokens).padStart(6)}  P̂ ${row.probability.toFixed(4)}  bound(c1=0) ${bound0 === null ? '  n/a ' : bound0.toFixed(4)}  bound(c1) ${row.bound === null ? '  n/a ' : row.bound.toFixed(4)}`,
    );
  }
}

console.log('Timings are from a shared machine: expect ±30 % noise.');
for (const backend of ['cpu', 'wasm'] as const) await imageBench(backend);
await frechetBench();
kSweep();
