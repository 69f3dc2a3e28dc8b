import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { psnr, ssim } from '@gq/metrics';
import { useBackend, type BackendName } from '@gq/runtime';
import { nodeFiles } from '@gq/runtime/files';
import { checkpointName, evaluate, loadCheckpoint, methodSpec, resolveConfig, toModelInput, trainRun, TrainedModel, type ConfigInput, type Evaluation, type ImageSet, type TrainConfig } from '@gq/training';
import { BenchError } from './errors.js';
import { stepsOf, type Arch, type SizeProfile } from './sizes.js';

/** What every suite gets: where to write, how big, and how to train. */
export interface BenchContext {
  /** Suite reports and training runs (`<outDir>/runs/<id>`, checkpoints included). */
  readonly outDir: string;
  /**
   * Where each configuration's result is kept: `<resultsDir>/<suite>/<key>.json` (small JSON files,
   * no weights, meant to be committed). Absent: `<outDir>/<suite>/configs/<key>.json`.
   */
  readonly resultsDir?: string;
  /** Train and measure nothing: every configuration's result must already be kept (`report` mode). */
  readonly reportOnly?: boolean;
  readonly size: SizeProfile;
  readonly workers: number;
  readonly backend: BackendName;
  readonly quiet: boolean;
  /** The command line that produced the run, for the reports. */
  readonly command: string;
  readonly log: (line: string) => void;
}

/** A resolved training configuration of this size for one method and backbone. */
export function benchConfig(ctx: BenchContext, arch: Arch, input: ConfigInput): TrainConfig {
  const backbone = arch === 'unet' ? ctx.size.unet : ctx.size.vit;
  return resolveConfig({
    arch,
    preset: backbone.preset,
    dataset: ctx.size.dataset,
    steps: stepsOf(ctx.size, arch),
    // Only a size that names γ sets it, so the other sizes' configurations (and result keys) stay as they were.
    ...(ctx.size.tdcFactor !== undefined ? { tdcFactor: ctx.size.tdcFactor } : {}),
    batchSize: ctx.size.batchSize,
    learningRate: ctx.size.learningRate,
    testImages: ctx.size.testImages,
    ...input,
    model: { ...backbone.model, ...(input.model ?? {}) },
  });
}

/** Folder name of a training run: readable, plus a hash of the full configuration so any change trains anew. */
export function runId(config: TrainConfig): string {
  const hash = createHash('sha256').update(JSON.stringify(config)).digest('hex').slice(0, 10);
  const dim = methodSpec(config.method).choosesTokenDim ? `-m${config.dim}` : '';
  return `${config.arch}-${config.method}-b${config.bits}-c${config.model.zChannels}${dim}-s${config.seed}-${hash}`;
}

/**
 * Folder name of the tdc-speed suite's run of `config` (its step budget aside): one run continued
 * through several step counts, evaluated after each.
 */
export function speedRunId(config: TrainConfig): string {
  return `${runId({ ...config, steps: 0 })}-speed`;
}

/** The step of the checkpoint in run folder `id`, or undefined where it has none. */
function checkpointStep(ctx: BenchContext, id: string): number | undefined {
  const path = join(runDir(ctx, id), checkpointName);
  return existsSync(path) ? loadCheckpoint(nodeFiles, path).step : undefined;
}

/**
 * The folder to train or load `config` in when the caller names `id`: `id` itself, unless its
 * checkpoint is short of `config.steps` (or absent) while the twin folder of the same configuration
 * (a suite's `runId` ↔ tdc-speed's `speedRunId`) holds a checkpoint at exactly `config.steps`. That
 * model is then loaded instead of trained a second time: resuming is bit-exact, so a run continued
 * through shorter step counts and one trained straight through are the same model. A twin past
 * `config.steps` is never used, since a run cannot be taken back to fewer steps.
 */
export function sourceRun(ctx: BenchContext, config: TrainConfig, id: string): string {
  const twin = id === speedRunId(config) ? runId(config) : id === runId(config) ? speedRunId(config) : undefined;
  // Checkpoints are read only where a twin folder exists at all.
  if (twin === undefined || !existsSync(runDir(ctx, twin))) return id;
  const own = checkpointStep(ctx, id);
  if (own !== undefined && own >= config.steps) return id;
  return checkpointStep(ctx, twin) === config.steps ? twin : id;
}

export interface TrainingRecord {
  readonly runId: string;
  readonly steps: number;
  /** Training seconds recorded in the checkpoint (summed over the invocations that trained it). */
  readonly trainSeconds: number;
  /** Steps trained in this invocation (0 when the checkpoint was already complete). */
  readonly stepsNow: number;
  /** The last logged training step: loss and, for Gaussian methods, the batch's mean rate in bits. */
  readonly finalLoss: number;
  readonly finalBitsMean?: number;
}

/** A trained bench model: its configuration, the model in this thread, the held-out images and how it was trained. */
export interface BenchModel {
  readonly config: TrainConfig;
  readonly model: TrainedModel;
  readonly test: ImageSet;
  readonly training: TrainingRecord;
}

function lastLogLine(dir: string): { loss: number; bits?: { mean: number } } | undefined {
  const path = join(dir, 'metrics.jsonl');
  if (!existsSync(path)) return undefined;
  const lines = readFileSync(path, 'utf8').trim().split('\n');
  const last = lines.at(-1);
  return last === undefined || last === '' ? undefined : (JSON.parse(last) as { loss: number; bits?: { mean: number } });
}

/**
 * Train `config` into `<out>/runs/<named>` (resuming a partial or complete checkpoint, so a finished
 * model is loaded, not retrained; `sourceRun` picks a finished twin's folder instead where there is
 * one, and `training.runId` names the folder used), copy the trained model into this thread, run
 * `use` on it, then release it. Evaluation runs in this thread on the context's backend.
 * @throws TrainError `resume-ahead` (from `trainRun`) when the folder's checkpoint is past `config.steps`.
 */
export async function withTrainedModel<T>(
  ctx: BenchContext,
  config: TrainConfig,
  use: (model: BenchModel) => Promise<T>,
  named: string = runId(config),
): Promise<T> {
  const id = sourceRun(ctx, config, named);
  const dir = runDir(ctx, id);
  ctx.log(`  model ${id}: ${config.steps} steps${id !== named ? ` (the same configuration's finished run, loaded instead of training ${named})` : ''}`);
  const outcome = await trainRun(config, {
    files: nodeFiles,
    outDir: dir,
    workers: ctx.workers,
    backend: ctx.backend,
    resume: true,
    checkpointEvery: Math.max(25, Math.ceil(config.steps / 4)),
    quiet: ctx.quiet,
  });
  let model: TrainedModel | undefined;
  try {
    if (outcome.interrupted) throw new BenchError('interrupted', `training of ${id} was interrupted at step ${outcome.step}; rerun to resume`);
    if (outcome.trainer.workerCount > 1 || tf.getBackend() !== ctx.backend) await useBackend(ctx.backend);
    model = await TrainedModel.fromTrainer(config, outcome.trainer);
    const last = lastLogLine(dir);
    const training: TrainingRecord = {
      runId: id,
      steps: outcome.step,
      trainSeconds: outcome.seconds,
      stepsNow: outcome.losses.length,
      finalLoss: last?.loss ?? Number.NaN,
      ...(last?.bits !== undefined ? { finalBitsMean: last.bits.mean } : {}),
    };
    return await use({ config, model, test: outcome.test, training });
  } finally {
    model?.dispose();
    await outcome.trainer.dispose();
  }
}

/** Where `withTrainedModel` trains `config` (or the run named `id`): `<out>/runs/<id>`. */
export function runDir(ctx: BenchContext, id: string): string {
  return join(ctx.outDir, 'runs', id);
}

/** The training seeds of a quality cell: 0, 1, …, size.seeds − 1. */
export function seedsOf(ctx: BenchContext): number[] {
  return Array.from({ length: ctx.size.seeds }, (_, i) => i);
}

/** Train (or load) `config`, evaluate it on its held-out images, and shape the evaluation into a result row. */
export function withEvaluation<T>(ctx: BenchContext, config: TrainConfig, row: (evaluation: Evaluation, training: TrainingRecord) => T): Promise<T> {
  return withTrainedModel(ctx, config, async (bench) => row(await evaluate(bench.model, bench.test), bench.training));
}

/** One chunk of the evaluation set with its posterior moments. */
export interface EncodedChunk {
  readonly images: Float32Array;
  readonly imageShape: [number, number, number, number];
  readonly mu: Float32Array;
  readonly logVar: Float32Array;
  readonly latentShape: number[];
}

/** Encode the held-out images in chunks: each chunk's μ and raw log σ² in the VAE's latent layout. */
export async function encodeTestSet(bench: BenchModel, chunk = 64): Promise<EncodedChunk[]> {
  const { config, model, test } = bench;
  const out: EncodedChunk[] = [];
  for (let start = 0; start < test.count; start += chunk) {
    const count = Math.min(chunk, test.count - start);
    const imageShape: [number, number, number, number] = [count, config.imageSize, config.imageSize, config.imageChannels];
    const images = toModelInput(test, Array.from({ length: count }, (_, i) => start + i), config.imageSize, config.imageChannels);
    const x = tf.tensor4d(images, imageShape);
    const { mu, logVar } = model.encode(x);
    try {
      out.push({ images, imageShape, mu: (await mu.data()) as Float32Array, logVar: (await logVar.data()) as Float32Array, latentShape: mu.shape });
    } finally {
      tf.dispose([x, mu, logVar]);
    }
  }
  return out;
}

/** Sums of per-image PSNR and SSIM of decode(latent) against the chunk's images. */
export async function decodeScores(bench: BenchModel, chunk: EncodedChunk, latent: tf.Tensor): Promise<{ psnrSum: number; ssimSum: number }> {
  const x = tf.tensor4d(chunk.images, chunk.imageShape);
  const y = bench.model.decode(latent);
  try {
    const p = await psnr(x, y);
    const s = await ssim(x, y);
    const n = chunk.imageShape[0];
    return { psnrSum: p.mean * n, ssimSum: s.mean * n };
  } finally {
    tf.dispose([x, y]);
  }
}
