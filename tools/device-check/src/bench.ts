/*
 * The WebGPU device check: adapter, training ms/step (the gq-train single-process path), GQ search
 * at K = 65 536, m = 16, and tokenizer encode/decode throughput. Prints one JSON object on stdout;
 * progress goes to stderr. Bundled with its runtime by build.mjs; run through check.sh (or the
 * bundle's run.sh on a GPU machine).
 *
 *   --quick            tiny sizes, for a CPU Vulkan driver (lavapipe): correctness of the check, not speed
 *   --batch N          training batch (default 32; quick 2)
 *   --steps N          timed training steps after the warm-up steps (default 5; quick 1)
 *   --paper-sizes L    paper UNet image sides to try, largest first, until one fits (default 128,64; quick 32)
 *   --only LIST        sections to run: adapter,train,search,codec (default all)
 */
import * as tf from '@tensorflow/tfjs-core';
import { useBackend } from '@gq/runtime';
import { DataParallelTrainer, type Shard } from '@gq/runtime/parallel';
import { createCodebook, gqQuantize } from '@gq/codebook';
import { Tokenizer } from '@gq/tokenizer';
import { init as initUnet, unetPresets } from '@gq/vae-unet';
import { combineStepStats, resolveConfig, type ConfigInput, type TrainingReplicaTypes } from '@gq/training';

interface Args {
  readonly quick: boolean;
  readonly batch: number;
  readonly steps: number;
  readonly warmup: number;
  readonly paperSizes: number[];
  readonly only: Set<string>;
}

function parseArgs(argv: readonly string[]): Args {
  const value = (name: string): string | undefined => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const quick = argv.includes('--quick');
  return {
    quick,
    batch: Number(value('--batch') ?? (quick ? 2 : 32)),
    steps: Number(value('--steps') ?? (quick ? 1 : 5)),
    warmup: quick ? 1 : 2,
    paperSizes: (value('--paper-sizes') ?? (quick ? '32' : '128,64')).split(',').map(Number),
    only: new Set((value('--only') ?? 'adapter,train,search,codec').split(',')),
  };
}

const log = (line: string): void => void process.stderr.write(`device-check: ${line}\n`);

/** A seeded LCG in [−1, 1): input images need no dataset on the device machine. */
function noise(count: number, seed: number): Float32Array {
  const out = new Float32Array(count);
  let s = seed >>> 0;
  for (let i = 0; i < count; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

async function adapter(): Promise<Record<string, unknown>> {
  const gpu = (globalThis as { navigator?: { gpu?: { requestAdapter(): Promise<unknown> } } }).navigator?.gpu;
  const found = (await gpu?.requestAdapter()) as
    | { info?: Record<string, unknown>; limits?: Record<string, number>; features?: Set<string> }
    | null
    | undefined;
  const info = found?.info ?? {};
  return {
    vendor: info.vendor,
    architecture: info.architecture,
    device: info.device,
    description: info.description,
    maxBufferSize: found?.limits?.maxBufferSize,
    maxStorageBufferBindingSize: found?.limits?.maxStorageBufferBindingSize,
    features: found?.features !== undefined ? [...found.features].sort() : [],
  };
}

/** ms per optimiser step of one model through DataParallelTrainer with one replica (gq-train --backend webgpu). */
async function trainStep(name: string, input: ConfigInput, args: Args): Promise<Record<string, unknown>> {
  const config = resolveConfig({ ...input, batchSize: args.batch, steps: args.warmup + args.steps });
  log(`train ${name}: ${config.imageSize}² batch ${args.batch}`);
  const trainer = await DataParallelTrainer.create<TrainingReplicaTypes>({
    replicaModule: replicaModule(),
    workers: 1,
    backend: 'webgpu',
    replicaOptions: { config },
    combine: combineStepStats,
  });
  try {
    const shape = [args.batch, config.imageSize, config.imageSize, config.imageChannels];
    const shard: Shard = { images: { shape, data: noise(shape.reduce((a, b) => a * b, 1), 7) } };
    const times: number[] = [];
    let loss = NaN;
    for (let i = 0; i < args.warmup + args.steps; i++) {
      const started = performance.now();
      loss = (await trainer.step([shard])).loss;
      if (i >= args.warmup) times.push(performance.now() - started);
    }
    const sorted = [...times].sort((a, b) => a - b);
    return {
      model: name,
      imageSize: config.imageSize,
      batch: args.batch,
      parameters: trainer.parameterCount,
      msPerStep: Math.round(sorted[Math.floor(sorted.length / 2)]!),
      msPerStepAll: times.map(Math.round),
      finalLoss: loss,
      tensorsAlive: tf.memory().numTensors,
    };
  } finally {
    await trainer.dispose();
  }
}

/** The replica module: beside this file in the bundle, the training package's source otherwise. */
function replicaModule(): string {
  return import.meta.url.endsWith('.ts') ? new URL('../../../packages/training/src/replica.ts', import.meta.url).href : new URL('./replica.mjs', import.meta.url).href;
}

async function train(args: Args): Promise<Record<string, unknown>[]> {
  const runs: Record<string, unknown>[] = [];
  const attempt = async (name: string, input: ConfigInput): Promise<boolean> => {
    try {
      runs.push(await trainStep(name, input, args));
      return true;
    } catch (error) {
      runs.push({ model: name, error: error instanceof Error ? error.message.split('\n')[0] : String(error) });
      return false;
    }
  };
  await attempt('unet tiny32', { arch: 'unet', preset: 'tiny32' });
  await attempt('unet cpu32', { arch: 'unet', preset: 'cpu32' });
  for (const side of args.paperSizes) {
    if (await attempt(`unet paper ${side}²`, { arch: 'unet', preset: 'paper', model: { resolution: side } })) break;
  }
  await attempt('vit cpu32', { arch: 'vit', preset: 'cpu32' });
  return runs;
}

/** GQ search at the paper's scale through gqQuantize's tfjs path, chunked by memoryBudgetBytes. */
async function search(args: Args, bindingLimit: number): Promise<Record<string, unknown>> {
  const n = args.quick ? 256 : 16_384;
  const [size, dim] = [65_536, 16];
  const codebook = createCodebook({ size, dim, seed: 0 });
  // One score chunk must fit one storage binding (128 MiB on lavapipe; larger on NVIDIA).
  const budget = Math.min(256 * 2 ** 20, bindingLimit);
  log(`search: N = ${n}, K = ${size}, m = ${dim}`);
  const mu = tf.tensor2d(noise(n * dim, 11), [n, dim]);
  const logVar = tf.tidy(() => tf.sub(tf.mul(tf.tensor2d(noise(n * dim, 13), [n, dim]), 2), 3));
  const once = async (): Promise<number> => {
    const started = performance.now();
    const result = await gqQuantize(mu, logVar, codebook, { path: 'auto', memoryBudgetBytes: budget });
    await result.indices.data();
    tf.dispose([result.indices, result.zq]);
    return performance.now() - started;
  };
  try {
    await once();
    const ms = await once();
    return { n, K: size, m: dim, memoryBudgetBytes: budget, ms: Math.round(ms), tokensPerSecond: Math.round((n / ms) * 1000) };
  } finally {
    tf.dispose([mu, logVar]);
  }
}

/** Tokenizer throughput (random weights): UNet cpu32 at 32², K = 65 536, m = 4. */
async function codec(args: Args): Promise<Record<string, unknown>> {
  const config = unetPresets.cpu32;
  const batch = args.quick ? 4 : 64;
  log(`codec: UNet cpu32, batch ${batch}`);
  const params = initUnet(config, 0);
  const tokenizer = Tokenizer.create({ arch: 'unet', config, params, codebook: { size: 65_536, dim: 4, seed: 0 } });
  tf.dispose(Object.values(params));
  const images = tf.tidy(() => tf.clipByValue(tf.tensor4d(noise(batch * 32 * 32 * 3, 5), [batch, 32, 32, 3]), -1, 1));
  try {
    const encode = async (): Promise<{ ms: number; tokens: Awaited<ReturnType<Tokenizer['encode']>> }> => {
      const started = performance.now();
      const tokens = await tokenizer.encode(images);
      return { ms: performance.now() - started, tokens };
    };
    const decode = async (tokens: Awaited<ReturnType<Tokenizer['encode']>>): Promise<number> => {
      const started = performance.now();
      const y = await tokenizer.decode(tokens);
      await y.data();
      y.dispose();
      return performance.now() - started;
    };
    const warm = await encode();
    await decode(warm.tokens);
    const timed = await encode();
    const decodeMs = await decode(timed.tokens);
    return {
      model: 'unet cpu32 32², K = 65536, m = 4 (random weights)',
      batch,
      encodeImagesPerSecond: Math.round((batch / timed.ms) * 1000),
      decodeImagesPerSecond: Math.round((batch / decodeMs) * 1000),
    };
  } finally {
    tokenizer.dispose();
    images.dispose();
  }
}

const args = parseArgs(process.argv.slice(2));
const started = performance.now();
const info = await useBackend('webgpu');
const report: Record<string, unknown> = {
  check: 'gq-ts webgpu device check',
  mode: args.quick ? 'quick (sizes for a CPU Vulkan driver; not GPU speed)' : 'full',
  backend: { name: info.name, detail: info.detail },
  node: process.version,
  vulkanDriver: process.env.VK_DRIVER_FILES ?? process.env.VK_ICD_FILENAMES ?? null,
};
const adapterInfo = await adapter();
if (args.only.has('adapter')) report.adapter = adapterInfo;
if (args.only.has('train')) report.train = await train(args);
if (args.only.has('search')) report.search = await search(args, (adapterInfo.maxStorageBufferBindingSize as number | undefined) ?? 128 * 2 ** 20);
if (args.only.has('codec')) report.codec = await codec(args);
report.seconds = Math.round((performance.now() - started) / 100) / 10;
process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
// Dawn's instance keeps the event loop alive.
process.exit(0);
