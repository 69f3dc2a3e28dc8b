import * as tf from '@tensorflow/tfjs-core';
import { useBackend, type BackendName } from '@gq/runtime';
import { InferError, errorMessage } from '../core/errors.js';

export type BackendChoice = BackendName | 'auto';
export const backendChoices: readonly BackendChoice[] = ['auto', 'wasm', 'webgpu', 'cpu', 'tensorflow'];

/**
 * 'auto' in Node: tfjs-node when installed, else wasm, else cpu. WebGPU is only used when asked
 * for: without a GPU, Dawn runs on a software Vulkan driver ~10× slower than wasm.
 */
const nodeAutoOrder: readonly BackendName[] = ['tensorflow', 'wasm', 'cpu'];

/**
 * Dawn (the `webgpu` package) as navigator.gpu, and tfjs's WebGPU backend registered. The backend
 * module checks for `window` and `navigator.gpu` when it is imported, so both come first.
 */
async function prepareDawn(): Promise<void> {
  const g = globalThis as { navigator?: { gpu?: unknown }; window?: unknown };
  if (g.navigator?.gpu === undefined) {
    const dawn = (await import('webgpu')) as unknown as { create: (flags: string[]) => unknown; globals: Record<string, unknown> };
    Object.assign(globalThis, dawn.globals);
    g.window ??= globalThis;
    const gpu = dawn.create([]);
    if (g.navigator === undefined) Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true });
    else Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true });
  }
  g.window ??= globalThis;
  await import('@tensorflow/tfjs-backend-webgpu');
}

/** Start a backend in Node and make it current; returns its name and a detail line. */
export async function startNodeBackend(choice: string): Promise<{ name: string; detail: string }> {
  if (!(backendChoices as readonly string[]).includes(choice)) {
    throw new InferError('bad-backend', `--backend must be one of ${backendChoices.join(', ')}, got '${choice}'`);
  }
  if (choice === 'webgpu') {
    try {
      await prepareDawn();
    } catch (error) {
      throw new InferError('backend-unavailable', `cannot start WebGPU (Dawn): ${errorMessage(error)}. Install a Vulkan driver (pnpm --filter @gq/infer lavapipe) or pick --backend wasm`, { cause: error });
    }
    if (!(await tf.setBackend('webgpu'))) {
      throw new InferError('backend-unavailable', 'cannot start WebGPU: no adapter (is a Vulkan driver installed? run pnpm --filter @gq/infer lavapipe), or pick --backend wasm');
    }
    await tf.ready();
    const adapter = (tf.backend() as unknown as { adapterInfo?: { vendor?: string; architecture?: string } }).adapterInfo;
    return { name: 'webgpu', detail: `Dawn${adapter?.vendor ? ` (${adapter.vendor}${adapter.architecture ? ` ${adapter.architecture}` : ''})` : ''}` };
  }
  try {
    const info = choice === 'auto' ? await useBackend('auto', { prefer: nodeAutoOrder }) : await useBackend(choice as BackendName);
    return { name: info.name, detail: info.detail };
  } catch (error) {
    throw new InferError('backend-unavailable', errorMessage(error), { cause: error });
  }
}
