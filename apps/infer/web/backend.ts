import { useBackend, type BackendName } from '@gq/runtime';
import wasmUrl from '@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm.wasm?url';
import wasmSimdUrl from '@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-simd.wasm?url';
import wasmThreadedUrl from '@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.wasm?url';
import { InferError, errorMessage } from '../src/core/errors.js';

/** What the page's backend menu offers. */
export type PageBackend = 'auto' | 'webgpu' | 'wasm' | 'cpu';
/** The menu's entries, 'auto' first. */
export const pageBackends: readonly PageBackend[] = ['auto', 'webgpu', 'wasm', 'cpu'];

/** How the menu names each entry. */
const backendLabels: Readonly<Record<PageBackend, string>> = { auto: 'auto (WebGPU → wasm → cpu)', webgpu: 'WebGPU', wasm: 'wasm', cpu: 'cpu' };

/** Fill a page's backend menu with `choices` (both pages build it here, so they name backends alike). */
export function fillBackendMenu(select: HTMLSelectElement, choices: readonly PageBackend[] = pageBackends): void {
  select.replaceChildren(...choices.map((choice) => new Option(backendLabels[choice], choice)));
}

/** 'auto' on the page: WebGPU where the browser has it, else wasm, else cpu. */
const pageAutoOrder: readonly BackendName[] = ['webgpu', 'wasm', 'cpu'];

/** The .wasm binaries as the bundler emitted them (tfjs would look next to its JavaScript otherwise). */
const wasmPaths = {
  'tfjs-backend-wasm.wasm': wasmUrl,
  'tfjs-backend-wasm-simd.wasm': wasmSimdUrl,
  'tfjs-backend-wasm-threaded-simd.wasm': wasmThreadedUrl,
};

/** Start `choice` through @gq/runtime, or for 'auto' the first of WebGPU → wasm → cpu that starts; say why others failed. */
export async function startBrowserBackend(choice: PageBackend): Promise<{ name: string; detail: string }> {
  // Threads need SharedArrayBuffer, i.e. a cross-origin isolated page (COOP/COEP headers).
  const threads = globalThis.crossOriginIsolated ? Math.max(1, Math.min(4, navigator.hardwareConcurrency || 1)) : undefined;
  try {
    const info = await useBackend(choice, {
      prefer: pageAutoOrder,
      wasmPaths,
      ...(threads === undefined ? {} : { wasmThreads: threads }),
    });
    const isolation = threads === undefined ? 'one thread (page not cross-origin isolated)' : `up to ${threads} threads (cross-origin isolated)`;
    const detail = info.name === 'wasm' ? isolation : info.detail;
    return { name: info.name, detail: info.skipped.length > 0 ? `${detail}; skipped ${info.skipped.join('; ')}` : detail };
  } catch (error) {
    throw new InferError('backend-unavailable', `no backend could start: ${errorMessage(error)}`, { cause: error });
  }
}
