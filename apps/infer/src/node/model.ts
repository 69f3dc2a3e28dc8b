import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Tokenizer } from '@gq/tokenizer';
import { InferError, errorMessage } from '../core/errors.js';
import { defaultLimits, readInputFile, type Limits } from './files.js';

/** The bytes of an artifact: one `.gqtok` file, or a directory with manifest.json + weights.safetensors. */
export async function readArtifactSource(path: string, limits: Limits = defaultLimits): Promise<Uint8Array | { manifest: string; weights: Uint8Array }> {
  let isDirectory: boolean;
  try {
    isDirectory = (await stat(path)).isDirectory();
  } catch (error) {
    throw new InferError('unreadable', `--model ${path}: cannot read it (${errorMessage(error)})`, { cause: error });
  }
  try {
    if (!isDirectory) return await readInputFile(path, 'model', limits);
    const manifest = new TextDecoder().decode(await readInputFile(join(path, 'manifest.json'), 'manifest', limits));
    return { manifest, weights: await readInputFile(join(path, 'weights.safetensors'), 'weights', limits) };
  } catch (error) {
    throw new InferError('unreadable', `--model ${path}: must be a .gqtok file or a directory with manifest.json and weights.safetensors (${errorMessage(error)})`, { cause: error });
  }
}

/** Load and verify a tokenizer artifact; a clear error names the path when it is not one. */
export async function loadTokenizer(path: string, limits: Limits = defaultLimits): Promise<Tokenizer> {
  const source = await readArtifactSource(path, limits);
  try {
    return await Tokenizer.load(source);
  } catch (error) {
    throw new InferError('bad-model', `--model ${path} is not a usable tokenizer artifact: ${errorMessage(error)}`, { cause: error });
  }
}
