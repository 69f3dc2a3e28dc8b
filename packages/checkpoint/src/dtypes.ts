import { safetensorsDtypes, type SafetensorsDtype, type TypedArrayFor } from '@gq/safetensors';

/*
 * A checkpoint's tensors are handed on as safetensors entries (@gq/weights reads both through one
 * path), so the element types, their typed arrays and widths are safetensors' own, not a copy.
 */

/** Element types, spelled as in safetensors headers so entries can be passed on unchanged. */
export const checkpointDtypes = safetensorsDtypes;
export type CheckpointDtype = SafetensorsDtype;

/** The typed array holding each dtype's elements (F16/BF16 as raw IEEE bit patterns). */
export type CheckpointTypedArrayFor = TypedArrayFor;

export type CheckpointTypedArray = CheckpointTypedArrayFor[CheckpointDtype];

/** One materialised tensor: C-order (row-major) copy of its elements in host byte order. */
export interface CheckpointTensor {
  readonly dtype: CheckpointDtype;
  readonly shape: readonly number[];
  readonly data: CheckpointTypedArray;
}

/** PyTorch's legacy typed-storage class names (what `torch.save` pickles) and their element types. */
export const storageDtypes: Readonly<Record<string, CheckpointDtype>> = {
  DoubleStorage: 'F64',
  FloatStorage: 'F32',
  HalfStorage: 'F16',
  BFloat16Storage: 'BF16',
  LongStorage: 'I64',
  IntStorage: 'I32',
  ShortStorage: 'I16',
  CharStorage: 'I8',
  ByteStorage: 'U8',
  BoolStorage: 'BOOL',
};

/** View a fresh, offset-0 buffer of host-order bytes as the dtype's typed array. */
export function typedArrayFromBuffer(dtype: CheckpointDtype, buffer: ArrayBuffer): CheckpointTypedArray {
  switch (dtype) {
    case 'F64': return new Float64Array(buffer);
    case 'F32': return new Float32Array(buffer);
    case 'F16':
    case 'BF16': return new Uint16Array(buffer);
    case 'I64': return new BigInt64Array(buffer);
    case 'I32': return new Int32Array(buffer);
    case 'I16': return new Int16Array(buffer);
    case 'I8': return new Int8Array(buffer);
    case 'U8':
    case 'BOOL': return new Uint8Array(buffer);
  }
}
