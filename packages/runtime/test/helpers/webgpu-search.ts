/*
 * Child process of webgpu-search.test.ts (Dawn reads LD_LIBRARY_PATH only when a process starts):
 * GQ search at K = 65 536, m = 16 on WebGPU through gqQuantize's chunked tfjs path, against the exact
 * float64 search of gqSearchCpu; prints one JSON line with the indices of both and the memory figures.
 */
import * as tf from '@tensorflow/tfjs-core';
import { createCodebook, gqQuantize, gqSearchCpu } from '@gq/codebook';
import { useBackend } from '@gq/runtime';

const [rows, size, dim] = [256, 65_536, 16];
const budget = 2 * 2 ** 20; // 8 rows of K float32 scores per chunk: 32 chunks
const info = await useBackend('webgpu');
const codebook = createCodebook({ size, dim, seed: 0 });
let s = 12345;
const uniform = (): number => {
  s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
  return s / 2 ** 32;
};
const muData = Float32Array.from({ length: rows * dim }, () => 2 * uniform() - 1);
const logVarData = Float32Array.from({ length: rows * dim }, () => -4 + 3 * uniform());
const mu = tf.tensor2d(muData, [rows, dim]);
const logVar = tf.tensor2d(logVarData, [rows, dim]);
const search = async (): Promise<Int32Array> => {
  const result = await gqQuantize(mu, logVar, codebook, { path: 'auto', memoryBudgetBytes: budget });
  const indices = (await result.indices.data()) as Int32Array;
  tf.dispose([result.indices, result.zq]);
  return indices;
};
// The first call uploads the codebook tables (cached per codebook); memory must not move after it.
const first = await search();
const before = tf.memory();
const second = await search();
const after = tf.memory();
const exact = gqSearchCpu(muData, logVarData, codebook, { beta: 1 });
const gpu = after as tf.MemoryInfo & { numBytesInGPU?: number; numBytesAllocatedInGPU?: number };
process.stdout.write(
  `${JSON.stringify({
    backend: info.name,
    first: Array.from(first),
    second: Array.from(second),
    exact: Array.from(exact),
    tensors: [before.numTensors, after.numTensors],
    bytes: [before.numBytes, after.numBytes],
    gpuBytesAllocated: gpu.numBytesAllocatedInGPU ?? null,
    scoreBytesUnchunked: rows * size * 4,
  })}\n`,
);
process.exit(0);
