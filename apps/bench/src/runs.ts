import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { psnr, ssim } from '@gq/metrics';
import { useBackend, type BackendName } from '@gq/runtime';
import type { DataParallelTrainer } from '@gq/runtime/parallel';
import { resolveConfig, type ConfigInput, type TrainConfig } from '@gq/train/src/config.js';
import { toModelInput, type ImageSet } from '@gq/train/src/datasets/index.js';
import { trainRun } from '@gq/train/src/train.js';
import { BenchError } from './errors.js';
import type { Arch, SizeProfile } from './sizes.js';

/** What every suite gets: where to write, how big, and how to train. */
export interface BenchContext {
  readonly outDir: string;
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
    steps: ctx.size.steps,
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
  const dim = ['gq', 'gq-vanilla', 'vq'].includes(config.method) ? `-m${config.dim}` : '';
  return `${config.arch}-${config.method}-b${config.bits}-c${config.model.zChannels}${dim}-${hash}`;
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

export interface TrainedModel {
  readonly config: TrainConfig;
  readonly trainer: DataParallelTrainer;
  readonly test: ImageSet;
  readonly training: TrainingRecord;
}

function lastLogLine(runDir: string): { loss: number; bits?: { mean: number } } | undefined {
  const path = join(runDir, 'metrics.jsonl');
  if (!existsSync(path)) return undefined;
  const lines = readFileSync(path, 'utf8').trim().split('\n');
  const last = lines.at(-1);
  return last === undefined || last === '' ? undefined : (JSON.parse(last) as { loss: number; bits?: { mean: number } });
}

/**
 * Train `config` into `<out>/runs/<runId>` (resuming a partial or complete checkpoint, so a
 * finished model is loaded, not retrained), run `use` on the live trainer, then release it.
 * Evaluation runs in this thread on the context's backend.
 */
export async function withTrainedModel<T>(ctx: BenchContext, config: TrainConfig, use: (model: TrainedModel) => Promise<T>): Promise<T> {
  const id = runId(config);
  const runDir = join(ctx.outDir, 'runs', id);
  ctx.log(`  model ${id}: ${config.steps} steps`);
  const outcome = await trainRun(config, {
    outDir: runDir,
    workers: ctx.workers,
    backend: ctx.backend,
    resume: true,
    checkpointEvery: Math.max(25, Math.ceil(config.steps / 4)),
    quiet: ctx.quiet,
  });
  try {
    if (outcome.interrupted) throw new BenchError('interrupted', `training of ${id} was interrupted at step ${outcome.step}; rerun to resume`);
    if (outcome.trainer.workerCount > 1 || tf.getBackend() !== ctx.backend) await useBackend(ctx.backend);
    const last = lastLogLine(runDir);
    const training: TrainingRecord = {
      runId: id,
      steps: outcome.step,
      trainSeconds: outcome.seconds,
      stepsNow: outcome.losses.length,
      finalLoss: last?.loss ?? Number.NaN,
      ...(last?.bits !== undefined ? { finalBitsMean: last.bits.mean } : {}),
    };
    return await use({ config, trainer: outcome.trainer, test: outcome.test, training });
  } finally {
    await outcome.trainer.dispose();
  }
}

/** One chunk of the evaluation set with its posterior moments (from replica 0's encoder). */
export interface EncodedChunk {
  readonly images: Float32Array;
  readonly imageShape: [number, number, number, number];
  readonly mu: Float32Array;
  readonly logVar: Float32Array;
  readonly latentShape: number[];
}

/** Encode the held-out images in chunks: each chunk's μ and raw log σ² in the VAE's latent layout. */
export async function encodeTestSet(model: TrainedModel, chunk = 64): Promise<EncodedChunk[]> {
  const { config, trainer, test } = model;
  const out: EncodedChunk[] = [];
  for (let start = 0; start < test.count; start += chunk) {
    const count = Math.min(chunk, test.count - start);
    const imageShape: [number, number, number, number] = [count, config.imageSize, config.imageSize, config.imageChannels];
    const images = toModelInput(test, Array.from({ length: count }, (_, i) => start + i), config.imageSize, config.imageChannels);
    const moments = (await trainer.call('encode', { images, shape: imageShape })) as { mu: Float32Array; logVar: Float32Array; shape: number[] };
    out.push({ images, imageShape, mu: moments.mu, logVar: moments.logVar, latentShape: moments.shape });
  }
  return out;
}

/** Sums of per-image PSNR and SSIM of decode(latent) against the chunk's images. */
export async function decodeScores(model: TrainedModel, chunk: EncodedChunk, latent: tf.Tensor): Promise<{ psnrSum: number; ssimSum: number }> {
  const decoded = (await model.trainer.call('decode', { latent: await latent.data(), shape: latent.shape })) as {
    images: Float32Array;
    shape: [number, number, number, number];
  };
  const x = tf.tensor4d(chunk.images, chunk.imageShape);
  const y = tf.tensor4d(decoded.images, decoded.shape);
  try {
    const p = await psnr(x, y);
    const s = await ssim(x, y);
    const n = chunk.imageShape[0];
    return { psnrSum: p.mean * n, ssimSum: s.mean * n };
  } finally {
    tf.dispose([x, y]);
  }
}
