import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Tokenizer } from '@gq/tokenizer';
import { InferError, errorMessage } from '../core/errors.js';

/** The bytes of an artifact: one `.gqtok` file, or a directory with manifest.json + weights.safetensors. */
export async function readArtifactSource(path: string): Promise<Uint8Array | { manifest: string; weights: Uint8Array }> {
  let isDirectory: boolean;
  try {
    isDirectory = (await stat(path)).isDirectory();
  } catch (error) {
    throw new InferError('unreadable', `--model ${path}: cannot read it (${errorMessage(error)})`, { cause: error });
  }
  try {
    if (!isDirectory) return new Uint8Array(await readFile(path));
    return { manifest: await readFile(join(path, 'manifest.json'), 'utf8'), weights: new Uint8Array(await readFile(join(path, 'weights.safetensors'))) };
  } catch (error) {
    throw new InferError('unreadable', `--model ${path}: must be a .gqtok file or a directory with manifest.json and weights.safetensors (${errorMessage(error)})`, { cause: error });
  }
}

/** Load and verify a tokenizer artifact; a clear error names the path when it is not one. */
export async function loadTokenizer(path: string): Promise<Tokenizer> {
  const source = await readArtifactSource(path);
  try {
    return await Tokenizer.load(source);
  } catch (error) {
    throw new InferError('bad-model', `--model ${path} is not a usable tokenizer artifact: ${errorMessage(error)}`, { cause: error });
  }
}
