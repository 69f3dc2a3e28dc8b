import { parentPort } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import { useBackend } from '@gq/runtime';
import { createCodebook, gqSearch, gqSearchCpu, type Codebook, type CodebookSpec } from '@gq/codebook';

/**
 * Which search a worker runs on its slice: gqSearchCpu's default (the wasm SIMD kernel with float64
 * re-ranking), its float64 JS scan, or tfjs on the worker's own wasm backend instance.
 */
export type WorkerEngine = 'ts' | 'ts-js' | 'wasm';

/** Messages from CpuSearchPool: one `init`, then any number of `search` slices over shared buffers. */
export type WorkerRequest =
  | { readonly kind: 'init'; readonly spec: CodebookSpec; readonly engine: WorkerEngine }
  | {
      readonly kind: 'search';
      readonly mu: SharedArrayBuffer;
      readonly logVar: SharedArrayBuffer;
      readonly out: SharedArrayBuffer;
      readonly rowStart: number;
      readonly rowEnd: number;
      readonly beta: number;
    };

let codebook: Codebook | undefined;
let engine: WorkerEngine = 'ts';

async function searchWasm(request: Extract<WorkerRequest, { kind: 'search' }>): Promise<void> {
  const dim = codebook!.dim;
  const rows = request.rowEnd - request.rowStart;
  if (rows === 0) return;
  const slice = (buffer: SharedArrayBuffer): Float32Array =>
    new Float32Array(buffer).slice(request.rowStart * dim, request.rowEnd * dim);
  const mu = tf.tensor2d(slice(request.mu), [rows, dim]);
  const logVar = tf.tensor2d(slice(request.logVar), [rows, dim]);
  try {
    const indices = await gqSearch(mu, logVar, codebook!, { beta: request.beta });
    new Int32Array(request.out).set(await indices.data(), request.rowStart);
    indices.dispose();
  } finally {
    tf.dispose([mu, logVar]);
  }
}

parentPort!.on('message', (request: WorkerRequest) => {
  const run = async (): Promise<void> => {
    if (request.kind === 'init') {
      codebook = createCodebook(request.spec);
      engine = request.engine;
      const probe = new Float32Array(codebook.dim);
      // Build the per-codebook tables now, outside any timed search.
      if (engine === 'wasm') {
        await useBackend('wasm');
        const mu = tf.tensor2d(probe, [1, codebook.dim]);
        (await gqSearch(mu, null, codebook)).dispose();
        mu.dispose();
      } else {
        gqSearchCpu(probe, null, codebook, { algorithm: engine === 'ts-js' ? 'exhaustive-js' : 'auto' });
      }
      return;
    }
    if (engine === 'wasm') {
      await searchWasm(request);
      return;
    }
    gqSearchCpu(new Float32Array(request.mu), new Float32Array(request.logVar), codebook!, {
      beta: request.beta,
      algorithm: engine === 'ts-js' ? 'exhaustive-js' : 'auto',
      rowStart: request.rowStart,
      rowEnd: request.rowEnd,
      out: new Int32Array(request.out),
    });
  };
  run().then(
    () => parentPort!.postMessage({ ok: true }),
    (error: unknown) => parentPort!.postMessage({ ok: false, message: error instanceof Error ? error.message : String(error) }),
  );
});
