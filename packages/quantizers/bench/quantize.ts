import * as tf from '@tensorflow/tfjs-core';
import { useBackend, ensureGradients } from '@gq/runtime';
import { medianMs } from '@gq/test-utils/bench';
import { bsq, fsq, lfq, tokenBridge, vq, type TrainableQuantizer } from '@gq/quantizers';

/*
 * Inference quantise and one training forward + gradient for every baseline at 16 bits per
 * position on a [32, 8, 8, C] latent (2 048 positions). Ratios are against FSQ inference,
 * measured in the same run.
 */

const POSITIONS = [32, 8, 8];
const REPEATS = Number(process.env.BENCH_REPEATS ?? 10);

function quantizers(): [string, TrainableQuantizer<object>][] {
  return [
    ['fsq [8,8,8,5,5,5]', fsq({ levels: [8, 8, 8, 5, 5, 5] })],
    ['vq K=256 m=8 G=2', vq({ codebookSize: 256, dim: 8, channels: 16, seed: 1 })],
    ['vq K=65536 m=16', vq({ codebookSize: 65536, dim: 16, channels: 16, seed: 1 })],
    ['lfq C=16 (2×256)', lfq({ channels: 16 })],
    ['bsq C=16', bsq({ channels: 16 })],
    ['tokenBridge 8×2', tokenBridge({ bits: 2, channels: 8 })],
  ];
}

async function run(backend: 'wasm' | 'cpu'): Promise<void> {
  await useBackend(backend);
  await ensureGradients();
  let baseline = 0;
  for (const [name, q] of quantizers()) {
    if (backend === 'cpu' && q.kind === 'vq' && q.codebookSize > 4096) {
      console.log(`${backend.padEnd(4)}  ${name.padEnd(20)} skipped on cpu (too slow)`);
      q.dispose();
      continue;
    }
    const z = tf.randomNormal([...POSITIONS, q.channels], 0, 1, 'float32', 3);
    const inference = await medianMs(async () => {
      const out = q.quantize(z);
      await out.indices.data();
      out.stats.dispose();
      tf.dispose([out.zq, out.indices, out.auxLoss]);
    }, REPEATS);
    const training = await medianMs(async () => {
      const g = tf.grad((x: tf.Tensor) => {
        const out = q.quantize(x, { training: true });
        out.stats.dispose();
        return tf.add(tf.sum(out.zq), out.auxLoss) as tf.Scalar;
      })(z);
      await g.data();
      g.dispose();
    }, REPEATS);
    if (baseline === 0) baseline = inference;
    console.log(
      `${backend.padEnd(4)}  ${name.padEnd(20)} inference ${inference.toFixed(2).padStart(8)} ms (${(inference / baseline).toFixed(1)}×)   train fwd+grad ${training.toFixed(2).padStart(8)} ms (${(training / baseline).toFixed(1)}×)`,
    );
    z.dispose();
    q.dispose();
  }
}

console.log(`Quantisers at 16 bits/position on [${POSITIONS.join(',')}, C]; median of ${REPEATS}; ratios vs FSQ inference (shared machine: noisy)`);
for (const backend of ['wasm', 'cpu'] as const) await run(backend);
