import * as tf from '@tensorflow/tfjs-core';
import type { FileStore } from '@gq/runtime/files';
import { packArtifact, toArtifact, type JsonObject, type Tokenizer } from '@gq/tokenizer';
import { joinPath } from './paths.js';

export interface ExportedArtifact {
  /** Folder form: manifest.json + weights.safetensors. */
  readonly folder: string;
  /** Single-file container. */
  readonly container: string;
  readonly artifactId: string;
}

function workspaceVersions(files: FileStore): Record<string, string> {
  const names = ['core', 'codebook', 'tdc', 'vae-unet', 'vae-vit', 'tokenizer', 'runtime', 'training'];
  const out: Record<string, string> = {};
  for (const name of names) {
    try {
      const pkg = JSON.parse(new TextDecoder().decode(files.readFile(new URL(`../../${name}/package.json`, import.meta.url)))) as { version: string };
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
  files: FileStore,
  tokenizer: Tokenizer,
  outDir: string,
  training: JsonObject,
  metrics: JsonObject,
): Promise<ExportedArtifact> {
  const artifact = await toArtifact(tokenizer, { training, metrics, packages: workspaceVersions(files) });
  const folder = joinPath(outDir, 'tokenizer');
  files.makeFolder(folder);
  files.writeAtomic(joinPath(folder, 'weights.safetensors'), artifact.weights);
  files.writeAtomic(joinPath(folder, 'manifest.json'), `${artifact.manifestJson}\n`);
  const container = joinPath(outDir, 'tokenizer.gqtok');
  files.writeAtomic(container, packArtifact(artifact));
  return { folder, container, artifactId: tokenizer.artifactId! };
}
