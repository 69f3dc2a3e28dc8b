import * as tf from '@tensorflow/tfjs-core';
import { RuntimeError } from './errors.js';

/** Backends `useBackend` knows how to start. `'auto'` picks the fastest one that starts. */
export type BackendName = 'wasm' | 'cpu' | 'webgpu' | 'tensorflow';
export const backendNames: readonly BackendName[] = ['tensorflow', 'webgpu', 'wasm', 'cpu'];

export interface UseBackendOptions {
  /** wasm: thread count for XNNPACK where the platform allows threads (browsers when cross-origin isolated). */
  readonly wasmThreads?: number;
  /** 'auto' only: candidates in order of preference (default: tensorflow, webgpu, wasm, cpu). */
  readonly prefer?: readonly BackendName[];
}

export interface BackendInfo {
  readonly name: BackendName;
  /** tfjs's registered backend name ('tensorflow' for tfjs-node and tfjs-node-gpu). */
  readonly tfName: string;
  /** Human-readable detail: which package provided it, thread count, adapter. */
  readonly detail: string;
}

type Starter = (options: UseBackendOptions) => Promise<string>;

function isNode(): boolean {
  const proc = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof proc?.versions?.node === 'string';
}

async function importOptional(specifier: string): Promise<unknown> {
  return import(/* @vite-ignore */ specifier);
}

const starters: Record<BackendName, Starter> = {
  async cpu() {
    await import('@tensorflow/tfjs-backend-cpu');
    return 'pure JavaScript kernels';
  },
  async wasm(options) {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    if (options.wasmThreads !== undefined) wasm.setThreadsCount(options.wasmThreads);
    return isNode() ? 'XNNPACK, SIMD, single thread (Node)' : 'XNNPACK, SIMD';
  },
  async webgpu() {
    const g = globalThis as { navigator?: { gpu?: unknown }; window?: unknown };
    if (g.navigator?.gpu === undefined) {
      if (!isNode()) throw new Error('navigator.gpu is not available in this browser');
      // Dawn for Node: the `webgpu` package provides navigator.gpu and the WebGPU globals.
      const dawn = (await importOptional('webgpu')) as {
        create: (flags: string[]) => unknown;
        globals: Record<string, unknown>;
      };
      Object.assign(globalThis, dawn.globals);
      g.window ??= globalThis;
      const gpu = dawn.create([]);
      if (g.navigator === undefined) {
        Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true });
      } else {
        Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true });
      }
    }
    await importOptional('@tensorflow/tfjs-backend-webgpu');
    return isNode() ? 'Dawn (webgpu package)' : 'navigator.gpu';
  },
  async tensorflow() {
    try {
      await importOptional('@tensorflow/tfjs-node-gpu');
      return 'tfjs-node-gpu';
    } catch {
      await importOptional('@tensorflow/tfjs-node');
      return 'tfjs-node';
    }
  },
};

const tfNames: Record<BackendName, string> = {
  cpu: 'cpu',
  wasm: 'wasm',
  webgpu: 'webgpu',
  tensorflow: 'tensorflow',
};

function describe(error: unknown): string {
  return error instanceof Error ? error.message.split('\n')[0] ?? error.name : String(error);
}

async function start(name: BackendName, options: UseBackendOptions): Promise<BackendInfo> {
  const detail = await starters[name](options);
  const tfName = tfNames[name];
  if (tf.findBackendFactory(tfName) === null) {
    throw new Error(`the ${name} package loaded but registered no '${tfName}' backend`);
  }
  const ok = await tf.setBackend(tfName);
  if (!ok) throw new Error(`tf.setBackend('${tfName}') failed to initialise`);
  await tf.ready();
  if (name === 'cpu') {
    // The cpu backend prints a "use tfjs-node" banner on first use in Node; the caller chose cpu.
    (tf.backend() as { firstUse?: boolean }).firstUse = false;
  }
  return { name, tfName, detail };
}

/**
 * Start a TensorFlow.js backend and make it the current one.
 *
 * @param name a backend, or 'auto' for the fastest one available (tensorflow, webgpu, wasm, cpu)
 * @throws RuntimeError `unknown-backend` for a name it does not know, `backend-unavailable` (with
 *   the reason for each candidate) when the backend cannot start.
 */
export async function useBackend(
  name: BackendName | 'auto',
  options: UseBackendOptions = {},
): Promise<BackendInfo> {
  if (name !== 'auto' && !backendNames.includes(name)) {
    throw new RuntimeError(
      'unknown-backend',
      `useBackend: name must be one of 'auto', ${backendNames.map((b) => `'${b}'`).join(', ')}; got ${JSON.stringify(name)}`,
    );
  }
  const candidates = name === 'auto' ? (options.prefer ?? backendNames) : [name];
  const failures: string[] = [];
  for (const candidate of candidates) {
    try {
      return await start(candidate, options);
    } catch (error) {
      failures.push(`${candidate}: ${describe(error)}`);
    }
  }
  const available = await availableBackends();
  throw new RuntimeError(
    'backend-unavailable',
    `useBackend: could not start ${name === 'auto' ? 'any backend' : `'${name}'`} (${failures.join('; ')}). ` +
      `Available here: ${available.length > 0 ? available.join(', ') : 'none'}`,
  );
}

/** Backends whose packages can be imported here (a cheap check; starting one may still fail). */
export async function availableBackends(): Promise<BackendName[]> {
  const probes: Record<BackendName, () => Promise<unknown>> = {
    cpu: () => import('@tensorflow/tfjs-backend-cpu'),
    wasm: () => import('@tensorflow/tfjs-backend-wasm'),
    webgpu: async () => {
      const g = globalThis as { navigator?: { gpu?: unknown } };
      if (g.navigator?.gpu === undefined) await importOptional('webgpu');
      return importOptional('@tensorflow/tfjs-backend-webgpu');
    },
    tensorflow: () =>
      importOptional('@tensorflow/tfjs-node-gpu').catch(() => importOptional('@tensorflow/tfjs-node')),
  };
  const found: BackendName[] = [];
  for (const name of backendNames) {
    try {
      await probes[name]();
      found.push(name);
    } catch {
      // not installed here
    }
  }
  return found;
}
