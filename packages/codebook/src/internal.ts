/**
 * Building blocks of @gq/codebook for its tests, benches and the project's own tools: the
 * generator pieces of docs/algorithms.md §2.3, those of the reference's own codebook ('torch-sobol':
 * torch's MT19937, its scrambled Sobol state, SciPy's ndtri) and the wasm SIMD kernel. Not part of the public API;
 * they may change in any release.
 */
export { sobolDirections } from './sobol-directions.js';
export { Mt19937 } from './mt19937.js';
export { ndtri } from './ndtri.js';
export { torchSobolState, TORCH_SOBOL_BITS, TORCH_SOBOL_MAX_DIM, TORCH_SOBOL_MAX_SIZE } from './torch-sobol.js';
export type { TorchSobolState } from './torch-sobol.js';
export { philox4x32, uniformFromWords } from './philox.js';
export { detLog } from './det-log.js';
export { ppnd16 } from './ppnd.js';
export { kernelModuleBytes, paddedWidth } from './wasm-kernel.js';
export { simdKernelFor } from './search-simd.js';
export type { SimdKernel } from './search-simd.js';
export { FunctionWriter, encodeModule, Op, SimdOp, I32, F32, V128 } from './wasm-emitter.js';
export type { FunctionSpec, ValueType } from './wasm-emitter.js';
