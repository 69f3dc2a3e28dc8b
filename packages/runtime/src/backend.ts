import * as tf from '@tensorflow/tfjs-core';
import type * as NodeModule from 'node:module';
import { RuntimeError } from './errors.js';
import { enableRelaxedSimd, relaxedSimdAvailable } from './kernels/relaxed-simd.js';
import { importNodeOnly, isNode } from './node-only.js';

/** Backends `useBackend` knows how to start. `'auto'` picks the fastest one that starts. */
export type BackendName = 'wasm' | 'cpu' | 'webgpu' | 'tensorflow';

/** Every backend `useBackend` knows, fastest first: the default order of `'auto'`. */
export const backendNames: readonly BackendName[] = ['tensorflow', 'webgpu', 'wasm', 'cpu'];

/** Options of `useBackend`. */
export interface UseBackendOptions {
  /** wasm: thread count for XNNPACK where the platform allows threads (browsers when cross-origin isolated). Default: tfjs's choice. */
  readonly wasmThreads?: number;
  /**
   * wasm: where the `.wasm` binaries are served from, passed to tfjs's `setWasmPaths` before the
   * backend starts (a bundler's asset URLs for a page). Default: next to the backend's JavaScript.
   */
  readonly wasmPaths?: string | Readonly<Record<string, string>>;
  /**
   * wasm: make relaxed SIMD available for the training kernels' fused multiply–add (default true):
   * in Node 20 this sets V8's --experimental-wasm-relaxed-simd for the process (`enableRelaxedSimd`);
   * Node 22 and current browsers have it already. `false` leaves V8's flags alone.
   */
  readonly relaxedSimd?: boolean;
  /** 'auto' only: candidates in order of preference (default `backendNames`: tensorflow, webgpu, wasm, cpu). */
  readonly prefer?: readonly BackendName[];
}

/** The backend `useBackend` started. */
export interface BackendInfo {
  /** The backend that runs. */
  readonly name: BackendName;
  /** tfjs's registered backend name ('tensorflow' for tfjs-node and tfjs-node-gpu). */
  readonly tfName: string;
  /** Human-readable detail: which package provided it, thread count, adapter. */
  readonly detail: string;
  /** 'auto': the candidates tried before this one, each with why it did not start (`'webgpu: no adapter'`). */
  readonly skipped: readonly string[];
}

type Starter = (options: UseBackendOptions) => Promise<string>;

interface GpuLike {
  requestAdapter(): Promise<unknown>;
}

/**
 * Make `navigator.gpu` exist: the browser's own, or in Node Dawn from the optional `webgpu` package
 * (which also provides the WebGPU globals such as GPUBufferUsage that tfjs's backend reads).
 */
async function provideNavigatorGpu(): Promise<GpuLike> {
  const g = globalThis as { navigator?: { gpu?: GpuLike }; window?: unknown };
  const present = g.navigator?.gpu;
  if (present !== undefined) return present;
  if (!isNode()) throw new Error('navigator.gpu is missing (this browser has no WebGPU)');
  const dawn = await import('webgpu');
  Object.assign(globalThis, dawn.globals);
  const gpu = dawn.create([]) as unknown as GpuLike;
  if (g.navigator === undefined) {
    Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true });
  } else {
    Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true });
  }
  return gpu;
}

const starters: Record<BackendName, Starter> = {
  async cpu() {
    await import('@tensorflow/tfjs-backend-cpu');
    return 'pure JavaScript kernels';
  },
  async wasm(options) {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    if (options.wasmPaths !== undefined) {
      wasm.setWasmPaths(typeof options.wasmPaths === 'string' ? options.wasmPaths : { ...options.wasmPaths });
    }
    if (options.wasmThreads !== undefined) wasm.setThreadsCount(options.wasmThreads);
    const relaxed = options.relaxedSimd === false ? relaxedSimdAvailable() : await enableRelaxedSimd();
    const simd = relaxed ? 'SIMD and relaxed SIMD' : 'SIMD';
    if (isNode()) return `XNNPACK, ${simd}, single thread (Node)`;
    return options.wasmThreads !== undefined && options.wasmThreads > 1 ? `XNNPACK, ${simd}, up to ${options.wasmThreads} threads` : `XNNPACK, ${simd}`;
  },
  async webgpu() {
    const gpu = await provideNavigatorGpu();
    // Without an adapter tfjs's backend factory fails with a less useful message.
    if ((await gpu.requestAdapter()) === null) {
      throw new Error(isNode() ? 'no WebGPU adapter (Dawn needs a Vulkan driver, e.g. Mesa lavapipe)' : 'no WebGPU adapter');
    }
    // The backend module reads `window` when it is imported; Node has none.
    const g = globalThis as { window?: unknown };
    g.window ??= globalThis;
    await import('@tensorflow/tfjs-backend-webgpu');
    return isNode() ? 'Dawn (webgpu package)' : 'navigator.gpu';
  },
  async tensorflow() {
    if (!isNode()) throw new Error('tfjs-node runs only in Node');
    try {
      await importNodeOnly('@tensorflow/tfjs-node-gpu');
      return 'tfjs-node-gpu';
    } catch {
      await importNodeOnly('@tensorflow/tfjs-node');
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
  return error instanceof Error ? (error.message.split('\n')[0] ?? error.name) : String(error);
}

/** ' (vendor architecture)' of the WebGPU adapter tfjs runs on, when the backend reports it. */
function adapterDetail(): string {
  const info = (tf.backend() as { adapterInfo?: { vendor?: string; architecture?: string } }).adapterInfo;
  const parts = [info?.vendor, info?.architecture].filter((part): part is string => part !== undefined && part !== '');
  return parts.length > 0 ? ` (${parts.join(' ')})` : '';
}

async function start(name: BackendName, options: UseBackendOptions, skipped: readonly string[]): Promise<BackendInfo> {
  let detail = await starters[name](options);
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
  if (name === 'webgpu') detail += adapterDetail();
  return { name, tfName, detail, skipped };
}

/**
 * Start a TensorFlow.js backend and make it the current one, in Node or in a browser page. Each
 * backend package is imported only when it is tried; WebGPU uses `navigator.gpu` in a browser and
 * Dawn (the optional `webgpu` package) in Node.
 *
 * @param name a backend, or 'auto' for the first of `options.prefer` (default tensorflow, webgpu,
 *   wasm, cpu) that starts
 * @throws RuntimeError `unknown-backend` for a name it does not know, `backend-unavailable` (with
 *   the reason for each candidate) when the backend cannot start.
 */
export async function useBackend(name: BackendName | 'auto', options: UseBackendOptions = {}): Promise<BackendInfo> {
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
      return await start(candidate, options, [...failures]);
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
      if (tf.findBackendFactory('webgpu') !== null) return;
      if ((globalThis as { navigator?: { gpu?: unknown } }).navigator?.gpu !== undefined) {
        await import('@tensorflow/tfjs-backend-webgpu');
        return;
      }
      if (!isNode()) throw new Error('navigator.gpu is missing');
      // Load Dawn without creating an instance (one would keep Node's event loop alive), and only
      // resolve tfjs's backend: imported before navigator.gpu exists, it would never register.
      await import('webgpu');
      const { createRequire } = (await importNodeOnly('node:module')) as typeof NodeModule;
      createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-webgpu');
    },
    tensorflow: () =>
      isNode()
        ? importNodeOnly('@tensorflow/tfjs-node-gpu').catch(() => importNodeOnly('@tensorflow/tfjs-node'))
        : Promise.reject(new Error('Node only')),
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
