import { isGqError } from '@gq/core';
import { useBackend, type BackendName } from '@gq/runtime';
import { InferError, errorMessage } from '../core/errors.js';

/** What `--backend` accepts. */
export type BackendChoice = BackendName | 'auto';
/** `--backend` choices, 'auto' first. */
export const backendChoices: readonly BackendChoice[] = ['auto', 'wasm', 'webgpu', 'cpu', 'tensorflow'];

/**
 * 'auto' in Node: tfjs-node when installed, else wasm, else cpu. WebGPU is only used when asked
 * for: without a GPU, Dawn runs on a software Vulkan driver ~10× slower than wasm.
 */
const nodeAutoOrder: readonly BackendName[] = ['tensorflow', 'wasm', 'cpu'];

const webgpuHint = 'install a Vulkan driver (pnpm --filter @gq/infer lavapipe) or pick --backend wasm';

function isChoice(choice: string): choice is BackendChoice {
  return (backendChoices as readonly string[]).includes(choice);
}

/** Start a backend in Node (through @gq/runtime) and make it current; returns its name and a detail line. */
export async function startNodeBackend(choice: string): Promise<{ name: string; detail: string }> {
  if (!isChoice(choice)) {
    throw new InferError('bad-backend', `--backend must be one of ${backendChoices.join(', ')}, got '${choice}'`);
  }
  try {
    const info = await useBackend(choice, choice === 'auto' ? { prefer: nodeAutoOrder } : {});
    return { name: info.name, detail: info.detail };
  } catch (error) {
    if (!isGqError(error)) throw error;
    const message = choice === 'webgpu' ? `cannot start WebGPU (Dawn): ${errorMessage(error)}; ${webgpuHint}` : errorMessage(error);
    throw new InferError('backend-unavailable', message, { cause: error });
  }
}
