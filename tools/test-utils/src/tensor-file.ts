/** One tensor as a safetensors reader returns it: dtype code, shape and a typed array of its values. */
export interface RawTensor {
  readonly dtype: string;
  readonly shape: readonly number[];
  readonly data: ArrayBufferView;
}

/**
 * A safetensors reader: `parseSafetensors` from @gq/safetensors. Helpers take it as an argument so
 * that @gq/test-utils depends on no workspace package (every package devDepends on this one, so a
 * dependency back would close a cycle in the build graph).
 */
export type SafetensorsReader<E extends RawTensor = RawTensor> = (bytes: Uint8Array) => { readonly tensors: ReadonlyMap<string, E> };
