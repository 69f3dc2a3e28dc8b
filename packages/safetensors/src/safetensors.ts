import { SafetensorsError } from './errors.js';

/*
 * safetensors: an 8-byte little-endian header length n, n bytes of UTF-8 JSON mapping each tensor
 * name to {dtype, shape, data_offsets: [begin, end]} (offsets relative to the byte after the
 * header) plus an optional "__metadata__" map of strings, then the raw little-endian data.
 */

export const safetensorsDtypes = ['F64', 'F32', 'F16', 'BF16', 'I64', 'I32', 'I16', 'I8', 'U8', 'BOOL'] as const;
export type SafetensorsDtype = (typeof safetensorsDtypes)[number];

export interface TypedArrayFor {
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

export interface SafetensorsEntry {
  readonly dtype: SafetensorsDtype;
  readonly shape: readonly number[];
  /** A copy of the tensor's bytes as a typed array (F16/BF16 as raw Uint16 bit patterns). */
  readonly data: TypedArrayFor[SafetensorsDtype];
}

export interface SafetensorsFile {
  readonly tensors: ReadonlyMap<string, SafetensorsEntry>;
  readonly metadata: Readonly<Record<string, string>>;
}

/** Input to `serializeSafetensors`: each tensor's dtype, shape and data. */
export type TensorRecord = Readonly<Record<string, SafetensorsEntry>>;

/** Bytes per element of each dtype (BOOL is one byte per value). */
export const safetensorsDtypeBytes: Readonly<Record<SafetensorsDtype, number>> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1,
};

/** Options of `parseSafetensors`. */
export interface ParseSafetensorsOptions {
  /**
   * Budgets that bound the time and memory a file can demand; an exceeded one is a `too-large`
   * error naming it, its limit and the value seen.
   */
  readonly limits?: SafetensorsLimits;
}

/** Resource budgets of `parseSafetensors` (tensor data itself is bounded by the file, since ranges may not overlap). */
export interface SafetensorsLimits {
  /** Bytes of JSON header. Default 16 MiB (real headers are about 100 bytes per tensor). */
  readonly maxHeaderBytes?: number;
  /** Tensors in one file. Default 65 536. */
  readonly maxTensors?: number;
}

const defaultMaxHeaderBytes = 16 * 1024 * 1024;
const defaultMaxTensors = 65_536;

function fail(code: string, message: string): never {
  throw new SafetensorsError(code, `parseSafetensors: ${message}`);
}

function toBytes(source: ArrayBuffer | ArrayBufferView): Uint8Array {
  if (source instanceof ArrayBuffer) return new Uint8Array(source);
  if (ArrayBuffer.isView(source)) return new Uint8Array(source.buffer, source.byteOffset, source.byteLength);
  throw new SafetensorsError('bad-input', 'parseSafetensors: source must be an ArrayBuffer or a typed array');
}

function typedCopy(dtype: SafetensorsDtype, bytes: Uint8Array): TypedArrayFor[SafetensorsDtype] {
  // Copy into a fresh, aligned buffer; decode little-endian explicitly so big-endian hosts agree.
  const n = bytes.byteLength / safetensorsDtypeBytes[dtype];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (dtype) {
    case 'F64': { const out = new Float64Array(n); for (let i = 0; i < n; i++) out[i] = view.getFloat64(i * 8, true); return out; }
    case 'F32': { const out = new Float32Array(n); for (let i = 0; i < n; i++) out[i] = view.getFloat32(i * 4, true); return out; }
    case 'I64': { const out = new BigInt64Array(n); for (let i = 0; i < n; i++) out[i] = view.getBigInt64(i * 8, true); return out; }
    case 'I32': { const out = new Int32Array(n); for (let i = 0; i < n; i++) out[i] = view.getInt32(i * 4, true); return out; }
    case 'I16': { const out = new Int16Array(n); for (let i = 0; i < n; i++) out[i] = view.getInt16(i * 2, true); return out; }
    case 'F16':
    case 'BF16': { const out = new Uint16Array(n); for (let i = 0; i < n; i++) out[i] = view.getUint16(i * 2, true); return out; }
    case 'I8': return new Int8Array(bytes.slice().buffer);
    case 'U8':
    case 'BOOL': return bytes.slice();
  }
}

function limitOf(limits: unknown, name: keyof SafetensorsLimits, fallback: number): number {
  if (limits === undefined) return fallback;
  if (typeof limits !== 'object' || limits === null) throw new SafetensorsError('bad-option', `parseSafetensors: options.limits must be an object, got ${String(limits)}`);
  const value = (limits as Record<string, unknown>)[name];
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || (value as number) < 0) {
    throw new SafetensorsError('bad-option', `parseSafetensors: options.limits.${name} must be a non-negative integer, got ${String(value)}`);
  }
  return value as number;
}

/**
 * Parse a safetensors file. Validates the header length, JSON, dtypes and shapes, and that the
 * tensors' byte ranges tile the data section exactly, as the format's reference implementation
 * requires: each range matches its shape, ranges neither overlap nor leave gaps, and nothing
 * follows the last one.
 * @throws SafetensorsError with code `truncated`, `bad-header`, `bad-entry`, `trailing-bytes`,
 *   `too-large` (a budget of `options.limits`), `bad-option` or `bad-input`.
 */
export function parseSafetensors(source: ArrayBuffer | ArrayBufferView, options: ParseSafetensorsOptions = {}): SafetensorsFile {
  const bytes = toBytes(source);
  const limits: unknown = (options as { limits?: unknown } | null)?.limits;
  const maxHeaderBytes = limitOf(limits, 'maxHeaderBytes', defaultMaxHeaderBytes);
  const maxTensors = limitOf(limits, 'maxTensors', defaultMaxTensors);
  if (bytes.byteLength < 8) fail('truncated', `file must hold at least 8 bytes, got ${bytes.byteLength}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  if (8 + headerLength > bytes.byteLength) {
    if (headerLength > maxHeaderBytes) fail('bad-header', `header length must be ≤ ${maxHeaderBytes} and fit the file, got ${headerLength}`);
    fail('truncated', `header needs ${headerLength} bytes after the length field, file has ${bytes.byteLength - 8}`);
  }
  if (headerLength > maxHeaderBytes) fail('too-large', `limits.maxHeaderBytes: the header holds ${headerLength} bytes, more than the limit of ${maxHeaderBytes}`);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLength)));
  } catch (error) {
    fail('bad-header', `header must be UTF-8 JSON (${(error as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) fail('bad-header', 'header must be a JSON object');
  const dataStart = 8 + headerLength;
  const dataLength = bytes.byteLength - dataStart;
  let metadata: Record<string, string> = {};
  const ranges: { begin: number; end: number; name: string; dtype: SafetensorsDtype; shape: number[] }[] = [];
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof raw !== 'object' || raw === null || Object.values(raw).some((v) => typeof v !== 'string')) {
        fail('bad-header', '__metadata__ must map names to strings');
      }
      metadata = { ...(raw as Record<string, string>) };
      continue;
    }
    if (ranges.length >= maxTensors) fail('too-large', `limits.maxTensors: the header lists more than the limit of ${maxTensors} tensors`);
    const entry = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const dtype = entry?.dtype;
    if (typeof dtype !== 'string' || !(safetensorsDtypes as readonly string[]).includes(dtype)) {
      fail('bad-entry', `tensor '${name}' must have a dtype in ${safetensorsDtypes.join('/')}, got ${JSON.stringify(dtype)}`);
    }
    const shape = entry.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      fail('bad-entry', `tensor '${name}' must have a shape of non-negative integers, got ${JSON.stringify(shape)}`);
    }
    const offsets = entry.data_offsets;
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
      fail('bad-entry', `tensor '${name}' must have data_offsets [begin, end], got ${JSON.stringify(offsets)}`);
    }
    const [begin, end] = offsets as [number, number];
    const count = (shape as number[]).reduce((a, b) => a * b, 1);
    const expected = count * safetensorsDtypeBytes[dtype as SafetensorsDtype];
    if (end < begin || end - begin !== expected) {
      fail('bad-entry', `tensor '${name}' of shape [${(shape as number[]).join(',')}] ${dtype} needs ${expected} bytes, offsets give ${end - begin}`);
    }
    if (end > dataLength) fail('truncated', `tensor '${name}' ends at byte ${end} of the data section, which has ${dataLength}`);
    ranges.push({ begin, end, name, dtype: dtype as SafetensorsDtype, shape: [...(shape as number[])] });
  }
  // The ranges must tile [0, dataLength): a gap or trailing bytes mean the offsets were shifted
  // or the file was spliced, and the values read would be silently wrong.
  const sorted = [...ranges].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  for (const range of sorted) {
    if (range.begin < covered) fail('bad-entry', `tensor '${range.name}' starts at byte ${range.begin}, inside the range of another tensor (ending at ${covered}): ranges must not overlap`);
    if (range.begin > covered) fail('bad-entry', `tensor '${range.name}' starts at byte ${range.begin}, leaving a gap after byte ${covered}: ranges must be contiguous`);
    covered = range.end;
  }
  if (covered !== dataLength) fail('trailing-bytes', `the data section must end where the last tensor does (byte ${covered}), got ${dataLength - covered} trailing bytes`);
  const tensors = new Map<string, SafetensorsEntry>();
  for (const { begin, end, name, dtype, shape } of ranges) {
    tensors.set(name, { dtype, shape, data: typedCopy(dtype, bytes.subarray(dataStart + begin, dataStart + end)) });
  }
  return { tensors, metadata };
}

/**
 * Serialise tensors (in key order as given, data packed without gaps) and optional string
 * metadata into safetensors bytes.
 */
export function serializeSafetensors(
  tensors: TensorRecord,
  metadata: Readonly<Record<string, string>> = {},
): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = { ...metadata };
  let offset = 0;
  const entries = Object.entries(tensors);
  for (const [name, entry] of entries) {
    if (!(safetensorsDtypes as readonly string[]).includes(entry.dtype)) {
      throw new SafetensorsError('bad-input', `serializeSafetensors: tensor '${name}' has unknown dtype ${JSON.stringify(entry.dtype)}`);
    }
    const count = entry.shape.reduce((a, b) => a * b, 1);
    if (entry.data.length !== count) {
      throw new SafetensorsError(
        'bad-input',
        `serializeSafetensors: tensor '${name}' of shape [${entry.shape.join(',')}] needs ${count} elements, got ${entry.data.length}`,
      );
    }
    const size = count * safetensorsDtypeBytes[entry.dtype];
    header[name] = { dtype: entry.dtype, shape: [...entry.shape], data_offsets: [offset, offset + size] };
    offset += size;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  // Pad the header with spaces to a multiple of 8 so the data section is 8-byte aligned.
  const padded = Math.ceil(json.byteLength / 8) * 8;
  if (padded !== json.byteLength) {
    const withSpaces = new Uint8Array(padded).fill(0x20);
    withSpaces.set(json);
    json = withSpaces;
  }
  const out = new Uint8Array(8 + json.byteLength + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(json.byteLength), true);
  out.set(json, 8);
  let position = 8 + json.byteLength;
  for (const [, entry] of entries) {
    const n = entry.data.length;
    switch (entry.dtype) {
      case 'F64': for (let i = 0; i < n; i++) view.setFloat64(position + i * 8, entry.data[i] as number, true); break;
      case 'F32': for (let i = 0; i < n; i++) view.setFloat32(position + i * 4, entry.data[i] as number, true); break;
      case 'I64': for (let i = 0; i < n; i++) view.setBigInt64(position + i * 8, entry.data[i] as bigint, true); break;
      case 'I32': for (let i = 0; i < n; i++) view.setInt32(position + i * 4, entry.data[i] as number, true); break;
      case 'I16': for (let i = 0; i < n; i++) view.setInt16(position + i * 2, entry.data[i] as number, true); break;
      case 'F16':
      case 'BF16': for (let i = 0; i < n; i++) view.setUint16(position + i * 2, entry.data[i] as number, true); break;
      case 'I8': for (let i = 0; i < n; i++) view.setInt8(position + i, entry.data[i] as number); break;
      case 'U8':
      case 'BOOL': out.set(entry.data as Uint8Array, position); break;
    }
    position += n * safetensorsDtypeBytes[entry.dtype];
  }
  return out;
}
