import type { TensorInfo } from '@tensorflow/tfjs-core';
import type { KernelResult } from './conv-backprop.js';
import { release, reshape, runWasmKernel, type WasmBackendLike } from './wasm-ops.js';

/**
 * out[s, ...] = Σ_{i : segmentIds[i] = s} x[i, ...] for segmentIds of shape x.shape[:r].
 *
 * Fast path: one native ScatterNd, which adds rows that share an index. ScatterNd has no bounds
 * check, so the ids are read first (a cheap pass over int32s); with any id outside
 * [0, numSegments) the plain-JS loop runs instead and drops those rows, as the cpu backend does.
 */
export function unsortedSegmentSum(
  backend: WasmBackendLike,
  x: TensorInfo,
  segmentIds: TensorInfo,
  numSegments: number,
): KernelResult {
  const count = segmentIds.shape.reduce((a, b) => a * b, 1);
  const innerShape = x.shape.slice(segmentIds.shape.length);
  const inner = innerShape.reduce((a, b) => a * b, 1);
  const outShape = [numSegments, ...innerShape];
  const ids = backend.typedArrayFromHeap(segmentIds);
  let inRange = segmentIds.dtype === 'int32';
  for (let i = 0; i < count && inRange; i++) {
    const id = ids[i];
    inRange = id >= 0 && id < numSegments;
  }

  if (inRange && count > 0 && inner > 0 && numSegments > 0) {
    const indices = reshape(backend, segmentIds, [count, 1]);
    const updates = reshape(backend, x, [count, inner]);
    const scattered = runWasmKernel('ScatterNd', backend, { indices, updates }, { shape: [numSegments, inner] });
    release(backend, indices, updates);
    const out = reshape(backend, scattered, outShape);
    release(backend, scattered);
    return { out, path: 'fast' };
  }

  const out = backend.makeOutput(outShape, x.dtype);
  const target = backend.typedArrayFromHeap(out);
  target.fill(0);
  const source = backend.typedArrayFromHeap(x);
  const idValues = backend.typedArrayFromHeap(segmentIds);
  for (let i = 0; i < count; i++) {
    const id = Math.trunc(idValues[i]);
    if (!(id >= 0 && id < numSegments)) continue;
    const from = i * inner;
    const to = id * inner;
    for (let j = 0; j < inner; j++) target[to + j] += source[from + j];
  }
  return { out, path: 'fallback' };
}
