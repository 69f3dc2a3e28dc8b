/**
 * Building blocks of @gq/codebook for its tests, benches and the project's own tools: the
 * generator pieces of ALGORITHMS.md §2.3 and the wasm SIMD kernel. Not part of the public API;
 * they may change in any release.
 */
export { sobolDirections } from './codebook.js';
export { philox4x32, uniformFromWords } from './philox.js';
export { detLog } from './det-log.js';
export { ppnd16 } from './ppnd.js';
export { kernelModuleBytes, paddedWidth } from './wasm-kernel.js';
export { simdKernelFor } from './search-simd.js';
export type { SimdKernel } from './search-simd.js';
