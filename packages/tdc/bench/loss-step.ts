import * as tf from '@tensorflow/tfjs-core';
import { useBackend, ensureGradients } from '@gq/runtime';
import { medianMs } from '@gq/test-utils/bench';
import { createTdc, vanillaKl, type TdcStatsHandle } from '@gq/tdc';

/*
 * Cost of one TDC regulariser step (forward + gradient + statistics read + controller update) on
 * a [32, 8, 8, 16] latent with m = 4 (4 tokens per position, 8 192 tokens), against the fixed-weight
 * vanilla KL (forward + gradient) measured in the same run as the baseline.
 */

const SHAPE = [32, 8, 8, 16];
const REPEATS = Number(process.env.BENCH_REPEATS ?? 20);

async function run(backend: 'wasm' | 'cpu'): Promise<void> {
  await useBackend(backend);
  await ensureGradients();
  const mu = tf.randomNormal(SHAPE, 0, 1, 'float32', 1);
  const logVar = tf.randomNormal(SHAPE, -2, 0.5, 'float32', 2);
  const tdc = createTdc({ codebookSize: 256, group: 4 });
  const gradients = tf.grads((m: tf.Tensor, v: tf.Tensor) => vanillaKl(m, v));

  const baseline = await medianMs(async () => {
    const g = gradients([mu, logVar]);
    await g[0]!.data();
    tf.dispose(g);
  }, REPEATS);
  const tdcStep = await medianMs(async () => {
    let handle: TdcStatsHandle | undefined;
    const g = tf.grads((m: tf.Tensor, v: tf.Tensor) => {
      const out = tdc.loss(m, v);
      handle = out.stats;
      return out.loss;
    })([mu, logVar]);
    await g[0]!.data();
    tdc.update(await handle!.read());
    tf.dispose(g);
  }, REPEATS);
  console.log(
    `${backend.padEnd(4)}  vanillaKl fwd+grad ${baseline.toFixed(2)} ms   tdc fwd+grad+stats+update ${tdcStep.toFixed(2)} ms   ratio ${(tdcStep / baseline).toFixed(2)}×`,
  );
  tf.dispose([mu, logVar]);
}

console.log(`TDC step on latent [${SHAPE.join(',')}], m = 4; median of ${REPEATS} (shared machine: timings are noisy)`);
for (const backend of ['wasm', 'cpu'] as const) await run(backend);
