export { CodebookError } from './errors.js';
export {
  latentToTokens,
  tokensToLatent,
  latentRowsToTokens,
  tokensToLatentRows,
  tokensPerPosition,
} from './layout.js';
export type { LatentLayout, TokenGrouping } from './layout.js';
export { CODEBOOK_VERSION, createCodebook, codebookFromValues, codebookSpec, sobolDirections } from './codebook.js';
export type { Codebook, CodebookMethod, CodebookSpec } from './codebook.js';
export { philox4x32, uniformFromWords } from './philox.js';
export { detLog } from './det-log.js';
export { ppnd16 } from './ppnd.js';
export { LOG_VAR_MIN, LOG_VAR_MAX } from './query.js';
export type { SelectionOptions, SelectionRule } from './query.js';
export { gqSearchCpu } from './search-cpu.js';
export type { CpuSearchAlgorithm, CpuSearchOptions, CpuSearchStats } from './search-cpu.js';
export { wasmSimdSupported } from './wasm-kernel.js';
export { gqSearch, releaseCodebookTensors, DEFAULT_MEMORY_BUDGET_BYTES } from './search-tf.js';
export type { TfSearchOptions } from './search-tf.js';
export { gqQuantize, dequantize, dequantizeRows } from './quantize.js';
export type { QuantizeOptions, QuantizeResult, SearchPath } from './quantize.js';
export { packIndices, unpackIndices, packedByteLength } from './packing.js';
export { usageStats } from './usage.js';
export type { UsageStats } from './usage.js';
