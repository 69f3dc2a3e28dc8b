import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { DataParallelTrainer } from '@gq/runtime/parallel';
import { Tokenizer, packArtifact, toArtifact, type JsonObject } from '@gq/tokenizer';
import type { TrainConfig } from './config.js';
import { writeFileAtomic } from './files.js';

export interface ExportedArtifact {
  /** Folder form: manifest.json + weights.safetensors. */
  readonly folder: string;
  /** Single-file container. */
  readonly container: string;
  readonly artifactId: string;
}

function workspaceVersions(): Record<string, string> {
  const names = ['codebook', 'tdc', 'vae-unet', 'vae-vit', 'tokenizer', 'runtime'];
  const out: Record<string, string> = {};
  for (const name of names) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(`../../../packages/${name}/package.json`, import.meta.url), 'utf8')) as { version: string };
      out[`@gq/${name}`] = pkg.version;
    } catch {
      // running outside the workspace
    }
  }
  out['@tensorflow/tfjs-core'] = tf.version_core;
  return out;
}

/** The trained weights of replica 0 (UNet or ViT) as a GQ Tokenizer (caller disposes). */
export async function tokenizerFromTrainer(config: TrainConfig, trainer: DataParallelTrainer): Promise<Tokenizer> {
  const weights = (await trainer.call('weights')) as Record<string, { shape: number[]; data: Float32Array }>;
  const params: Record<string, tf.Tensor> = {};
  for (const [name, value] of Object.entries(weights)) params[name] = tf.tensor(value.data, value.shape);
  try {
    return Tokenizer.create({
      arch: config.arch,
      config: config.model,
      params,
      codebook: { size: 2 ** config.codebookBits, dim: config.dim, seed: config.codebookSeed, method: config.codebookMethod },
      layout: config.layout,
      beta: config.beta,
    });
  } finally {
    tf.dispose(Object.values(params));
  }
}

/** Write the tokenizer artifact (folder and `.gqtok`), each file atomically. */
export async function exportArtifact(
  tokenizer: Tokenizer,
  outDir: string,
  training: JsonObject,
  metrics: JsonObject,
): Promise<ExportedArtifact> {
  const artifact = await toArtifact(tokenizer, { training, metrics, packages: workspaceVersions() });
  const folder = join(outDir, 'tokenizer');
  mkdirSync(folder, { recursive: true });
  writeFileAtomic(join(folder, 'weights.safetensors'), artifact.weights);
  writeFileAtomic(join(folder, 'manifest.json'), `${artifact.manifestJson}\n`);
  const container = join(outDir, 'tokenizer.gqtok');
  writeFileAtomic(container, packArtifact(artifact));
  return { folder, container, artifactId: tokenizer.artifactId! };
}
