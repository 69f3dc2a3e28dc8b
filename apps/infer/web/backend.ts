import * as tf from '@tensorflow/tfjs-core';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { useBackend } from '@gq/runtime';
import wasmUrl from '@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm.wasm?url';
import wasmSimdUrl from '@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-simd.wasm?url';
import wasmThreadedUrl from '@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.wasm?url';
import { errorMessage } from '../src/core/errors.js';

export type PageBackend = 'auto' | 'webgpu' | 'wasm' | 'cpu';
export const pageBackends: readonly PageBackend[] = ['auto', 'webgpu', 'wasm', 'cpu'];

async function startWebgpu(): Promise<string> {
  const gpu = (navigator as { gpu?: { requestAdapter: () => Promise<unknown> } }).gpu;
  if (gpu === undefined) throw new Error('navigator.gpu is missing (this browser has no WebGPU)');
  if ((await gpu.requestAdapter()) === null) throw new Error('no WebGPU adapter');
  // A literal import, so the bundler ships the backend as a lazy chunk (@gq/runtime imports it by a
  // computed name that only Node can resolve).
  await import('@tensorflow/tfjs-backend-webgpu');
  if (!(await tf.setBackend('webgpu'))) throw new Error("tf.setBackend('webgpu') failed");
  await tf.ready();
  return 'navigator.gpu';
}

async function startWasm(): Promise<string> {
  setWasmPaths({
    'tfjs-backend-wasm.wasm': wasmUrl,
    'tfjs-backend-wasm-simd.wasm': wasmSimdUrl,
    'tfjs-backend-wasm-threaded-simd.wasm': wasmThreadedUrl,
  });
  // Threads need SharedArrayBuffer, i.e. a cross-origin isolated page (COOP/COEP headers).
  const threads = globalThis.crossOriginIsolated ? Math.max(1, Math.min(4, navigator.hardwareConcurrency || 1)) : undefined;
  await useBackend('wasm', threads === undefined ? {} : { wasmThreads: threads });
  return threads === undefined ? 'one thread (page not cross-origin isolated)' : `up to ${threads} threads (cross-origin isolated)`;
}

/** Start `choice`, or for 'auto' the first of WebGPU → wasm → cpu that starts; say why others failed. */
export async function startBrowserBackend(choice: PageBackend): Promise<{ name: string; detail: string }> {
  const order: Array<Exclude<PageBackend, 'auto'>> = choice === 'auto' ? ['webgpu', 'wasm', 'cpu'] : [choice];
  const skipped: string[] = [];
  for (const name of order) {
    try {
      const detail = name === 'webgpu' ? await startWebgpu() : name === 'wasm' ? await startWasm() : (await useBackend('cpu')).detail;
      return { name, detail: skipped.length > 0 ? `${detail}; skipped ${skipped.join('; ')}` : detail };
    } catch (error) {
      skipped.push(`${name}: ${errorMessage(error)}`);
    }
  }
  throw new Error(`no backend could start (${skipped.join('; ')})`);
}
