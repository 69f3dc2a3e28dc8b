import * as tf from '@tensorflow/tfjs-core';

export { seededNormal, seededRandom } from './random.js';

/** `--name value` from the command line as a number, or `fallback`. */
export function benchFlag(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

/**
 * Median wall time in ms of `repeats` runs of `run` (awaited), after one untimed warm-up run:
 * the median, not the mean, because the machine is shared and single runs stall.
 */
export async function medianMs(run: () => unknown, repeats: number): Promise<number> {
  await run();
  const times: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const start = performance.now();
    await run();
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

/** Mean ms of `repeats` runs of a tensor-returning `fn` until its outputs are read back, after one warm-up; outputs are disposed. */
export async function meanTensorMs(fn: () => tf.Tensor | tf.Tensor[], repeats: number): Promise<number> {
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

/** What the forward/backward bench needs from a VAE package (@gq/vae-unet, @gq/vae-vit). */
export interface VaeBenchModel<C, Z extends tf.Tensor> {
  readonly presets: Readonly<Record<string, C>>;
  /** Presets small enough to time on a CPU. */
  readonly timed: readonly string[];
  /** Image side of a config, in pixels. */
  side(config: C): number;
  parameterCount(config: C): { readonly encoder: number; readonly decoder: number; readonly total: number };
  init(config: C, seed: number): Record<string, tf.Tensor>;
  encode(config: C, params: Record<string, tf.Tensor>, x: tf.Tensor4D): { readonly mu: Z; readonly logVar: Z };
  decode(config: C, params: Record<string, tf.Tensor>, z: Z): tf.Tensor4D;
  /** One representative layer of the model at batch 32: the unit model times are given in. */
  readonly baseline: { readonly label: string; make(batch: number): { run(): tf.Tensor; dispose(): void } };
}

/**
 * What `runVaeBench` needs from @gq/runtime, passed in (`import * as runtime from '@gq/runtime'`)
 * so that @gq/test-utils depends on no workspace package.
 */
export interface BenchRuntime {
  useBackend(name: string): Promise<unknown>;
  ensureGradients(): Promise<void>;
  registerTrainingKernels(): unknown;
}

/**
 * Forward and forward+backward time per batch of 32 for a VAE's CPU presets, plus every preset's
 * parameter count, on the backend GQ_BACKEND names (default wasm, with the training kernels).
 * Model times are also given as multiples of the model's baseline layer measured in the same
 * run, so numbers from a loaded machine can still be compared.
 */
export async function runVaeBench<C, Z extends tf.Tensor>(model: VaeBenchModel<C, Z>, runtime: BenchRuntime): Promise<void> {
  const backend = process.env.GQ_BACKEND ?? 'wasm';
  const batch = 32;
  const reps = Number(process.env.GQ_BENCH_REPS ?? 2);
  await runtime.useBackend(backend);
  await runtime.ensureGradients();
  if (backend === 'wasm') {
    try {
      runtime.registerTrainingKernels();
      console.log('registerTrainingKernels: registered');
    } catch (error) {
      console.log(`registerTrainingKernels failed: ${(error as Error).message}`);
    }
  }
  console.log(`backend ${tf.getBackend()}, batch ${batch}, mean of ${reps} timed runs after one warm-up (shared machine: expect ±30 %)\n`);

  console.log('| preset | encoder params | decoder params | total |');
  console.log('|---|---:|---:|---:|');
  for (const [name, preset] of Object.entries(model.presets)) {
    const count = model.parameterCount(preset);
    console.log(`| ${name} | ${count.encoder.toLocaleString('en')} | ${count.decoder.toLocaleString('en')} | ${count.total.toLocaleString('en')} |`);
  }

  const layer = model.baseline.make(batch);
  const baseline = await meanTensorMs(() => layer.run(), 5);
  layer.dispose();
  console.log(`\nbaseline: ${model.baseline.label}: ${baseline.toFixed(1)} ms\n`);

  console.log('| preset | image | forward (encode + decode) ms | × baseline | forward+backward ms | × baseline | backward/forward |');
  console.log('|---|---|---:|---:|---:|---:|---:|');
  for (const name of model.timed) {
    const config = model.presets[name]!;
    const side = model.side(config);
    const params = model.init(config, 1);
    const names = Object.keys(params);
    const x = tf.randomUniform([batch, side, side, 3], -1, 1, 'float32', 3) as tf.Tensor4D;
    const forward = (tree: Record<string, tf.Tensor>, images: tf.Tensor4D): tf.Scalar => {
      const { mu, logVar } = model.encode(config, tree, images);
      const reconstruction = model.decode(config, tree, mu);
      return tf.add(tf.mean(tf.squaredDifference(reconstruction, images)), tf.mul(1e-3, tf.mean(tf.square(logVar)))) as tf.Scalar;
    };
    const fwd = await meanTensorMs(() => tf.tidy(() => forward(params, x)), reps);
    // wasm's heap is 32-bit (≤ 4 GiB): the activations a 64² batch of 32 keeps for backprop do not
    // fit, so larger images accumulate gradients over micro-batches (what data-parallel workers do).
    const micro = side > 32 ? Math.max(1, Math.floor((batch * 32 * 32) / (side * side * 2))) : batch;
    const gradients = (images: tf.Tensor4D): tf.Tensor[] =>
      tf.grads((...tensors: tf.Tensor[]) => forward(Object.fromEntries(names.map((n, i) => [n, tensors[i]!])), images))(
        names.map((n) => params[n]!),
      );
    let both = 'failed';
    let ratio = '–';
    let bothRatio = '–';
    try {
      const ms = await meanTensorMs(() => {
        let total: tf.Tensor[] | undefined;
        for (let start = 0; start < batch; start += micro) {
          const part = tf.slice(x, [start, 0, 0, 0], [Math.min(micro, batch - start), side, side, 3]) as tf.Tensor4D;
          const grads = gradients(part);
          part.dispose();
          if (total === undefined) total = grads;
          else {
            const sum = total.map((g, i) => tf.add(g, grads[i]!));
            tf.dispose([...total, ...grads]);
            total = sum;
          }
        }
        return total!;
      }, reps);
      both = micro < batch ? `${ms.toFixed(0)} (${batch / micro}×${micro} accumulated)` : ms.toFixed(0);
      bothRatio = (ms / baseline).toFixed(1);
      ratio = ((ms - fwd) / fwd).toFixed(2);
    } catch (error) {
      both = `failed: ${(error as Error).message.split('\n')[0]}`;
    }
    console.log(`| ${name} | ${side}² | ${fwd.toFixed(0)} | ${(fwd / baseline).toFixed(1)} | ${both} | ${bothRatio} | ${ratio} |`);
    tf.dispose([x, ...Object.values(params)]);
  }
}
