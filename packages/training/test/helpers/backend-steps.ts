/*
 * Child process of webgpu.test.ts (Dawn reads LD_LIBRARY_PATH only when a process starts): trains a
 * tiny UNet or ViT for a few steps in this thread (one replica, no workers) on the backend named in
 * argv[2] (method and arch pairs in argv[5], default unet:gq,vit:gq), interrupting after `resumeAt` steps and resuming through a checkpoint file, and prints
 * one JSON line per arch: the per-step losses and statistics, tensors and bytes alive after each step.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { DataParallelTrainer } from '@gq/runtime/parallel';
import type { BackendName } from '@gq/runtime';
import { nodeFiles } from '@gq/runtime/files';
import {
  batchShards,
  combineStepStats,
  loadCheckpoint,
  loadDataset,
  replicaModuleUrl,
  resolveConfig,
  saveCheckpoint,
  splitImages,
  type ConfigInput,
  type TrainingReplicaTypes,
} from '@gq/training';

/** What the parent reads back, per arch. */
export interface BackendSteps {
  readonly arch: string;
  readonly method: string;
  readonly backend: string;
  readonly losses: number[];
  readonly recon: number[];
  /** Mean KL bits per token (Gaussian methods), else the quantiser's auxiliary loss. */
  readonly rate: number[];
  readonly tensors: number[];
  readonly bytes: number[];
  /** Sum of |w| over the final weights (a cheap fingerprint of where training went). */
  weightL1: number;
}

/** Tiny models that still have every layer kind: GroupNorm, convs, attention (UNet) and transformer blocks (ViT). */
export const tinyModels: Record<'unet' | 'vit', ConfigInput> = {
  unet: {
    arch: 'unet',
    model: { resolution: 16, ch: 16, chMult: [1, 2], numResBlocks: 1, attnResolutions: [8], zChannels: 4, numGroups: 8 },
    bits: 4,
    dim: 4,
  },
  vit: {
    arch: 'vit',
    model: { imageSize: 16, patchSize: 4, width: 32, layers: 2, heads: 2, zChannels: 4, dimFfnOutput: 64 },
    bits: 4,
    dim: 4,
  },
};

async function trainSteps(arch: 'unet' | 'vit', method: string, backend: BackendName, steps: number, resumeAt: number): Promise<BackendSteps> {
  const config = resolveConfig({ ...tinyModels[arch], method, batchSize: 2, steps, testImages: 8, learningRate: 2e-3 });
  const dataset = await loadDataset(nodeFiles, config.dataset, config.imageSize);
  const { train } = splitImages(dataset, config.testImages, config.seed);
  const start = (): Promise<DataParallelTrainer<TrainingReplicaTypes>> =>
    DataParallelTrainer.create<TrainingReplicaTypes>({
      replicaModule: replicaModuleUrl,
      workers: 1,
      backend,
      replicaOptions: { config },
      combine: combineStepStats,
    });
  const out: BackendSteps = { arch, method, backend, losses: [], recon: [], rate: [], tensors: [], bytes: [], weightL1: 0 };
  let trainer = await start();
  const checkpoint = join(mkdtempSync(join(tmpdir(), 'gq-backend-steps-')), 'checkpoint.safetensors');
  for (let step = 0; step < steps; step++) {
    if (step === resumeAt) {
      saveCheckpoint(nodeFiles, checkpoint, { config, step, seconds: 0, state: await trainer.getState() });
      await trainer.dispose();
      trainer = await start();
      await trainer.setState(loadCheckpoint(nodeFiles, checkpoint).state);
    }
    const result = await trainer.step(batchShards(config, train, step, 1));
    out.losses.push(result.loss);
    out.recon.push(result.combined.recon);
    out.rate.push(result.combined.tdc?.mean ?? result.combined.quantizer!.auxLoss);
    out.tensors.push(tf.memory().numTensors);
    out.bytes.push(tf.memory().numBytes);
  }
  const weights = await trainer.call('weights');
  for (const array of Object.values(weights)) for (const w of array.data) out.weightL1 += Math.abs(w);
  await trainer.dispose();
  return out;
}

const backend = process.argv[2] as BackendName;
const steps = Number(process.argv[3] ?? 3);
const resumeAt = Number(process.argv[4] ?? 2);
const runs = (process.argv[5] ?? 'unet:gq,vit:gq').split(',').map((run) => run.split(':') as ['unet' | 'vit', string]);
for (const [arch, method] of runs) {
  process.stdout.write(`${JSON.stringify(await trainSteps(arch, method, backend, steps, resumeAt))}\n`);
}
