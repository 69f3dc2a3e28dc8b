/*
 * Forward and forward+backward time per batch of 32 for the CPU presets, plus parameter counts of
 * every preset. Backend: wasm (single thread in Node) unless GQ_BACKEND says otherwise. Each model
 * time is also given as a multiple of one 3×3 conv (32→32 channels, 32×32, batch 32) measured in
 * the same run, so numbers from a loaded machine can still be compared.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as runtime from '@gq/runtime';
import { decode, encode, init, parameterCount, unetPresets, type UnetConfig } from '@gq/vae-unet';

const backend = (process.env.GQ_BACKEND ?? 'wasm') as runtime.BackendName;
const batch = 32;
const reps = Number(process.env.GQ_BENCH_REPS ?? 2);

async function time(fn: () => tf.Tensor | tf.Tensor[], repeats = reps): Promise<number> {
  tf.dispose(fn());
  let total = 0;
  for (let r = 0; r < repeats; r++) {
    const start = performance.now();
    const out = fn();
    const list = Array.isArray(out) ? out : [out];
    for (const t of list) await t.data();
    total += performance.now() - start;
    tf.dispose(list);
  }
  return total / repeats;
}

await runtime.useBackend(backend);
await runtime.ensureGradients();
const register = (runtime as unknown as { registerTrainingKernels?: () => unknown }).registerTrainingKernels;
if (backend === 'wasm') {
  if (typeof register === 'function') {
    try {
      register();
      console.log('registerTrainingKernels: registered');
    } catch (error) {
      console.log(`registerTrainingKernels failed: ${(error as Error).message}`);
    }
  } else {
    console.log('registerTrainingKernels: not exported by @gq/runtime; backward on wasm will likely fail');
  }
}
console.log(`backend ${tf.getBackend()}, batch ${batch}, mean of ${reps} timed runs after one warm-up (shared machine: expect ±30 %)\n`);

console.log('| preset | encoder params | decoder params | total |');
console.log('|---|---:|---:|---:|');
for (const [name, preset] of Object.entries(unetPresets)) {
  const count = parameterCount(preset);
  console.log(`| ${name} | ${count.encoder.toLocaleString('en')} | ${count.decoder.toLocaleString('en')} | ${count.total.toLocaleString('en')} |`);
}

const x32 = tf.randomUniform([batch, 32, 32, 32], -1, 1, 'float32', 1) as tf.Tensor4D;
const w32 = tf.randomNormal([3, 3, 32, 32], 0, 0.1, 'float32', 2) as tf.Tensor4D;
const baseline = await time(() => tf.conv2d(x32, w32, 1, 'same'), 5);
tf.dispose([x32, w32]);
console.log(`\nbaseline: one 3×3 conv 32→32 at 32×32, batch 32: ${baseline.toFixed(1)} ms\n`);

console.log('| preset | image | forward (encode + decode) ms | × baseline | forward+backward ms | × baseline | backward/forward |');
console.log('|---|---|---:|---:|---:|---:|---:|');
for (const name of ['cpu32', 'cpu64'] as const) {
  const config: UnetConfig = unetPresets[name];
  const side = config.resolution;
  const params = init(config, 1);
  const names = Object.keys(params);
  const x = tf.randomUniform([batch, side, side, 3], -1, 1, 'float32', 3) as tf.Tensor4D;
  const forward = (tree: Record<string, tf.Tensor>): tf.Scalar => {
    const { mu, logVar } = encode(config, tree, x);
    const reconstruction = decode(config, tree, mu);
    return tf.add(tf.mean(tf.squaredDifference(reconstruction, x)), tf.mul(1e-3, tf.mean(tf.square(logVar)))) as tf.Scalar;
  };
  const fwd = await time(() => tf.tidy(() => forward(params)));
  let both = 'failed';
  let ratio = '–';
  let bothRatio = '–';
  try {
    const ms = await time(() =>
      tf.grads((...tensors: tf.Tensor[]) => forward(Object.fromEntries(names.map((n, i) => [n, tensors[i]!]))))(names.map((n) => params[n]!)),
    );
    both = ms.toFixed(0);
    bothRatio = (ms / baseline).toFixed(1);
    ratio = ((ms - fwd) / fwd).toFixed(2);
  } catch (error) {
    both = `failed: ${(error as Error).message.split('\n')[0]}`;
  }
  console.log(`| ${name} | ${side}² | ${fwd.toFixed(0)} | ${(fwd / baseline).toFixed(1)} | ${both} | ${bothRatio} | ${ratio} |`);
  tf.dispose([x, ...Object.values(params)]);
}
