import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { packArtifact, toArtifact, type JsonObject, type Tokenizer } from '@gq/tokenizer';
import { writeFileAtomic } from './files.js';

export interface ExportedArtifact {
  /** Folder form: manifest.json + weights.safetensors. */
  readonly folder: string;
  /** Single-file container. */
  readonly container: string;
  readonly artifactId: string;
}

function workspaceVersions(): Record<string, string> {
  const names = ['core', 'codebook', 'tdc', 'vae-unet', 'vae-vit', 'tokenizer', 'runtime', 'training'];
  const out: Record<string, string> = {};
  for (const name of names) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(`../../${name}/package.json`, import.meta.url), 'utf8')) as { version: string };
      out[`@gq/${name}`] = pkg.version;
    } catch {
      // a package installed elsewhere: its version is not recorded
    }
  }
  out['@tensorflow/tfjs-core'] = tf.version_core;
  return out;
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
