import * as tf from '@tensorflow/tfjs-core';
import { createCodebook, gqSearch, gqSearchCpu, releaseCodebookTensors, type Codebook, type CodebookSpec, type CpuSearchAlgorithm, type SelectionOptions } from '@gq/codebook';
import { useBackend, type BackendName } from '../backend.js';
import type { CreateWorker } from './pool.js';
import type { SearchEngine } from './search.js';

/** What `ParallelSearch` sends each thread as pool options. */
export interface SearchWorkerOptions {
  readonly spec: CodebookSpec;
  readonly engine: SearchEngine;
  readonly algorithm: CpuSearchAlgorithm;
  readonly backend: BackendName;
}

/** One thread's slice of a search: rows [rowStart, rowEnd) of the shared inputs, written into `out`. */
export interface SearchSlice {
  readonly mu: SharedArrayBuffer;
  readonly logVar: SharedArrayBuffer | null;
  readonly out: SharedArrayBuffer;
  readonly rowStart: number;
  readonly rowEnd: number;
  readonly selection: SelectionOptions;
}

/** The requests a search thread answers. */
export interface SearchWorkerCalls {
  search: { args: SearchSlice; result: null };
}

async function searchTfjs(codebook: Codebook, slice: SearchSlice): Promise<void> {
  const { dim } = codebook;
  const rows = slice.rowEnd - slice.rowStart;
  const part = (buffer: SharedArrayBuffer): tf.Tensor2D =>
    tf.tensor2d(new Float32Array(buffer, slice.rowStart * dim * 4, rows * dim).slice(), [rows, dim]);
  const mu = part(slice.mu);
  const logVar = slice.logVar === null ? null : part(slice.logVar);
  try {
    const indices = await gqSearch(mu, logVar, codebook, slice.selection);
    try {
      new Int32Array(slice.out).set(await indices.data(), slice.rowStart);
    } finally {
      indices.dispose();
    }
  } finally {
    tf.dispose(logVar === null ? [mu] : [mu, logVar]);
  }
}

/**
 * A WorkerPool module for `ParallelSearch`: builds the codebook from its spec, warms the engine's
 * per-codebook tables with a one-row search, then searches the slices it is sent.
 */
export const createWorker: CreateWorker<SearchWorkerCalls, SearchWorkerOptions> = async ({ options }) => {
  const codebook = createCodebook(options.spec);
  const probe = new Float32Array(codebook.dim);
  if (options.engine === 'tfjs') {
    await useBackend(options.backend);
    const mu = tf.tensor2d(probe, [1, codebook.dim]);
    try {
      (await gqSearch(mu, null, codebook)).dispose();
    } finally {
      mu.dispose();
    }
  } else {
    gqSearchCpu(probe, null, codebook, { algorithm: options.algorithm });
  }
  return {
    handlers: {
      search: async (slice) => {
        if (slice.rowEnd <= slice.rowStart) return null;
        if (options.engine === 'tfjs') {
          await searchTfjs(codebook, slice);
          return null;
        }
        gqSearchCpu(new Float32Array(slice.mu), slice.logVar === null ? null : new Float32Array(slice.logVar), codebook, {
          ...slice.selection,
          algorithm: options.algorithm,
          rowStart: slice.rowStart,
          rowEnd: slice.rowEnd,
          out: new Int32Array(slice.out),
        });
        return null;
      },
    },
    dispose: () => releaseCodebookTensors(codebook),
  };
};
