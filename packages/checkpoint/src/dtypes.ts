/** Element types, spelled as in safetensors headers so entries can be passed on unchanged. */
export const checkpointDtypes = ['F64', 'F32', 'F16', 'BF16', 'I64', 'I32', 'I16', 'I8', 'U8', 'BOOL'] as const;
export type CheckpointDtype = (typeof checkpointDtypes)[number];

/** The typed array holding each dtype's elements (F16/BF16 as raw IEEE bit patterns). */
export interface CheckpointTypedArrayFor {
  F64: Float64Array;
  F32: Float32Array;
  F16: Uint16Array;
  BF16: Uint16Array;
  I64: BigInt64Array;
  I32: Int32Array;
  I16: Int16Array;
  I8: Int8Array;
  U8: Uint8Array;
  BOOL: Uint8Array;
}

export type CheckpointTypedArray = CheckpointTypedArrayFor[CheckpointDtype];

/** One materialised tensor: C-order (row-major) copy of its elements in host byte order. */
export interface CheckpointTensor {
  readonly dtype: CheckpointDtype;
  readonly shape: readonly number[];
  readonly data: CheckpointTypedArray;
}

export const bytesPerElement: Readonly<Record<CheckpointDtype, number>> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1,
};

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
