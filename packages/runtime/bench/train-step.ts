import * as tf from '@tensorflow/tfjs-core';
import { ensureGradients, registerTrainingKernels, unregisterTrainingKernels, useBackend } from '@gq/runtime';
import { DataParallelTrainer } from '@gq/runtime/parallel';
import { createUnetStep, syntheticImages } from './unet-step.js';

/*
 * pnpm --filter @gq/runtime bench [--wasm-steps N] [--cpu-batch B] [--cpu-steps S (0 skips cpu)]
 * Times the UNet-like step on wasm (+ training kernels) and cpu, and the conv-transpose
 * forward with wasm's own Conv2DBackpropInput against the replacement. cpu's weight gradient is
 * so slow that it runs at a small batch and is scaled linearly to 32 (cost is linear in batch).
 */
function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const batch = 32;
const wasmSteps = flag('wasm-steps', 5);
const cpuBatch = flag('cpu-batch', 2);
const cpuSteps = flag('cpu-steps', 1);

/**
 * The same step data-parallel over `workers` worker threads (each its own wasm backend with the
 * training kernels): every step sends each worker half of the batch, averages the gradients and
 * applies Adam on every replica. Returns wall seconds per step.
 */
async function timeDataParallel(workers: number, steps: number): Promise<number> {
  const size = 32;
  const trainer = await DataParallelTrainer.create({
    replicaModule: new URL('./unet-replica.ts', import.meta.url),
    workers,
    backend: 'wasm',
    replicaOptions: { seed: 7, size },
  });
  try {
    const images = syntheticImages(7, batch, size);
    const per = batch / workers;
    const shards = Array.from({ length: workers }, (_, w) => ({
      images: { shape: [per, size, size, 3], data: images.slice(w * per * size * size * 3, (w + 1) * per * size * size * 3) },
    }));
    await trainer.step(shards);
    const start = performance.now();
    let loss = 0;
    for (let i = 0; i < steps; i++) loss = (await trainer.step(shards)).loss;
    const seconds = (performance.now() - start) / 1000 / steps;
    console.log(`wasm + training kernels, ${workers} worker threads: ${seconds.toFixed(3)} s/step wall at batch ${batch} (${steps} timed steps, loss ${loss.toFixed(4)})`);
    return seconds;
  } finally {
    await trainer.dispose();
  }
}

async function timeSteps(label: string, steps: number, batchSize: number, warmUp: boolean): Promise<{ wall: number; cpu: number }> {
  const model = createUnetStep(7, { batch: batchSize });
  try {
    // wasm warms up (XNNPACK operator creation, heap growth); cpu has nothing to warm and is slow.
    if (warmUp) await model.step();
    const start = performance.now();
    const cpuStart = process.cpuUsage();
    let loss = 0;
    for (let i = 0; i < steps; i++) loss = await model.step();
    const seconds = (performance.now() - start) / 1000 / steps;
    // wasm and cpu run on the main thread, so the process's CPU time per step approximates the
    // wall time on an idle machine; on a shared one the wall time also counts waiting for a core.
    const cpu = process.cpuUsage(cpuStart);
    const cpuSeconds = (cpu.user + cpu.system) / 1e6 / steps;
    console.log(
      `${label}: ${seconds.toFixed(3)} s/step wall, ${cpuSeconds.toFixed(3)} s/step CPU time, at batch ${batchSize} ` +
        `(${steps} timed steps, loss ${loss.toFixed(4)})`,
    );
    return { wall: seconds, cpu: cpuSeconds };
  } finally {
    model.dispose();
  }
}

async function timeConvTranspose(repeats: number): Promise<number> {
  const x = tf.randomNormal([batch, 16, 16, 32], 0, 1, 'float32', 1) as tf.Tensor4D;
  const w = tf.randomNormal([3, 3, 64, 32], 0, 0.1, 'float32', 2) as tf.Tensor4D;
  const ms = await timeMs(() => tf.conv2dTranspose(x, w, [batch, 32, 32, 64], 2, 'same'), repeats);
  tf.dispose([x, w]);
  return ms;
}

/** CPU time per call in ms (single-threaded backends: ≈ wall time on an idle machine). */
async function timeMs(run: () => tf.Tensor, repeats: number): Promise<number> {
  const warm = run();
  await warm.data();
  warm.dispose();
  const cpuStart = process.cpuUsage();
  for (let i = 0; i < repeats; i++) {
    const y = run();
    await y.data();
    y.dispose();
  }
  const cpu = process.cpuUsage(cpuStart);
  return (cpu.user + cpu.system) / 1000 / repeats;
}

/**
 * The weight gradient of the step's biggest conv (128→64 at 32×32, batch 32) three ways in one
 * run: the registered kernel (one GEMM per filter row), the single dilated-conv formulation
 * (x as [Ci,H,W,B] convolved with dy as a [Ho,Wo,B,Co] filter), and the forward conv, whose
 * FLOP count is the same, as the yardstick.
 */
async function timeWeightGradient(repeats: number): Promise<void> {
  const x = tf.randomNormal([batch, 32, 32, 128], 0, 1, 'float32', 3) as tf.Tensor4D;
  const dy = tf.randomNormal([batch, 32, 32, 64], 0, 1, 'float32', 4) as tf.Tensor4D;
  const w = tf.randomNormal([3, 3, 128, 64], 0, 0.1, 'float32', 5) as tf.Tensor4D;
  const attrs = { filterShape: [3, 3, 128, 64], strides: 1, pad: 'same', dataFormat: 'NHWC' };
  const kernel = await timeMs(() => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor, repeats);
  const dilatedConv = await timeMs(
    () =>
      tf.tidy(() => {
        const filter = tf.transpose(dy, [1, 2, 0, 3]) as tf.Tensor4D;
        const images = tf.transpose(x, [3, 1, 2, 0]) as tf.Tensor4D;
        return tf.transpose(tf.conv2d(images, filter, 1, [[0, 0], [1, 1], [1, 1], [0, 0]]), [1, 2, 0, 3]);
      }),
    repeats,
  );
  const forward = await timeMs(() => tf.conv2d(x, w, 1, 'same'), repeats);
  console.log(
    `weight gradient 128→64, 32×32, batch 32: training kernel ${kernel.toFixed(0)} ms, one dilated conv ${dilatedConv.toFixed(0)} ms ` +
      `(dilated/kernel ${(dilatedConv / kernel).toFixed(2)}), forward conv (same FLOPs) ${forward.toFixed(0)} ms (kernel/forward ${(kernel / forward).toFixed(2)})`,
  );
  tf.dispose([x, dy, w]);
}

async function main(): Promise<void> {
  console.log('Times are process CPU time (wasm and cpu run single-threaded), less disturbed than wall time on a shared machine; compare ratios within one run.');
  await useBackend('wasm');
  await ensureGradients();

  const nativeTranspose = await timeConvTranspose(5);
  registerTrainingKernels();
  const fastTranspose = await timeConvTranspose(5);
  console.log(
    `conv-transpose 16→32, 32→64 ch, batch 32 (Conv2DBackpropInput): wasm native ${nativeTranspose.toFixed(1)} ms, ` +
      `training kernel ${fastTranspose.toFixed(1)} ms, ratio ${(nativeTranspose / fastTranspose).toFixed(2)}×`,
  );

  await timeWeightGradient(3);
  const wasm = await timeSteps('wasm + training kernels', wasmSteps, batch, true);
  const parallel = await timeDataParallel(2, wasmSteps);
  console.log(
    `2 workers vs 1 thread (wall, same run): ${parallel.toFixed(3)} s vs ${wasm.wall.toFixed(3)} s per step of ${batch} images, ` +
      `speed-up ${(wasm.wall / parallel).toFixed(2)}× (target ≤ 0.8 s/step using both cores)`,
  );
  const wasmSeconds = wasm.cpu;

  unregisterTrainingKernels();
  if (cpuSteps === 0) return;
  await useBackend('cpu');
  const cpuSeconds = (await timeSteps('cpu', cpuSteps, cpuBatch, false)).cpu;
  const cpuScaled = (cpuSeconds * batch) / cpuBatch;
  console.log(`cpu scaled to batch ${batch}: ${cpuScaled.toFixed(1)} s/step CPU time (linear in batch)`);
  console.log(`speed-up wasm + training kernels over cpu (CPU time per step): ${(cpuScaled / wasmSeconds).toFixed(0)}×`);
}

await main();
