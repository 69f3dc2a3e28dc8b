/*
 * Byte-level builders for the tests: a pickle writer that emits opcodes one by one and a zip
 * writer that lays out torch.save-style archives (stored entries, 64-byte aligned data), with
 * knobs for ZIP64 records and deliberate corruption.
 */

import { expect } from 'vitest';
import { CheckpointError } from '@gq/checkpoint';

const encoder = new TextEncoder();

/** The CheckpointError that `run` throws (fails the test when it throws nothing or something else). */
export function errorOf(run: () => unknown): CheckpointError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(CheckpointError);
    return error as CheckpointError;
  }
  throw new Error('expected readTorchCheckpoint to throw');
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

function le(value: number | bigint, width: number): Uint8Array {
  const out = new Uint8Array(width);
  let v = BigInt.asUintN(width * 8, BigInt(value));
  for (let i = 0; i < width; i++) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

/** Emits pickle opcodes; every method returns `this` so a pickle reads like its disassembly. */
export class PickleWriter {
  private readonly parts: Uint8Array[] = [];
  raw(...bytes: number[]): this { this.parts.push(Uint8Array.from(bytes)); return this; }
  rawBytes(bytes: Uint8Array): this { this.parts.push(bytes); return this; }
  proto(version = 2): this { return this.raw(0x80, version); }
  frame(length: number): this { return this.raw(0x95).rawBytes(le(length, 8)); }
  mark(): this { return this.raw(0x28); }
  stop(): this { return this.raw(0x2e); }
  emptyDict(): this { return this.raw(0x7d); }
  emptyList(): this { return this.raw(0x5d); }
  emptyTuple(): this { return this.raw(0x29); }
  none(): this { return this.raw(0x4e); }
  bool(value: boolean): this { return this.raw(value ? 0x88 : 0x89); }
  str(text: string): this {
    const bytes = encoder.encode(text);
    return this.raw(0x58).rawBytes(le(bytes.length, 4)).rawBytes(bytes);
  }
  shortStr(text: string): this {
    const bytes = encoder.encode(text);
    return this.raw(0x8c, bytes.length).rawBytes(bytes);
  }
  int(value: number | bigint): this {
    const v = BigInt(value);
    if (v >= 0n && v < 256n) return this.raw(0x4b, Number(v));
    if (v >= 0n && v < 65536n) return this.raw(0x4d).rawBytes(le(v, 2));
    if (v >= -(2n ** 31n) && v < 2n ** 31n) return this.raw(0x4a).rawBytes(le(v, 4));
    // LONG1: minimal little-endian two's complement.
    let width = 1;
    while (v < -(2n ** BigInt(8 * width - 1)) || v >= 2n ** BigInt(8 * width - 1)) width++;
    return this.raw(0x8a, width).rawBytes(le(v, width));
  }
  float(value: number): this {
    const out = new Uint8Array(8);
    new DataView(out.buffer).setFloat64(0, value, false);
    return this.raw(0x47).rawBytes(out);
  }
  global(module: string, name: string): this { return this.raw(0x63).rawBytes(encoder.encode(`${module}\n${name}\n`)); }
  stackGlobal(module: string, name: string): this { return this.shortStr(module).shortStr(name).raw(0x93); }
  tuple(): this { return this.raw(0x74); }
  tuple1(): this { return this.raw(0x85); }
  tuple2(): this { return this.raw(0x86); }
  tuple3(): this { return this.raw(0x87); }
  reduce(): this { return this.raw(0x52); }
  newobj(): this { return this.raw(0x81); }
  build(): this { return this.raw(0x62); }
  setitem(): this { return this.raw(0x73); }
  setitems(): this { return this.raw(0x75); }
  append(): this { return this.raw(0x61); }
  appends(): this { return this.raw(0x65); }
  put(index: number): this { return index < 256 ? this.raw(0x71, index) : this.raw(0x72).rawBytes(le(index, 4)); }
  get(index: number): this { return index < 256 ? this.raw(0x68, index) : this.raw(0x6a).rawBytes(le(index, 4)); }
  memoize(): this { return this.raw(0x94); }
  binpersid(): this { return this.raw(0x51); }
  /** Push `_rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict())`. */
  tensor(storage: { type: string; key: string; numel: number | bigint }, offset: number, size: readonly (number | bigint)[], stride: readonly number[]): this {
    this.global('torch._utils', '_rebuild_tensor_v2').mark();
    this.mark().str('storage').global('torch', storage.type).str(storage.key).str('cpu').int(storage.numel).tuple().binpersid();
    this.int(offset);
    this.mark();
    for (const s of size) this.int(s);
    this.tuple().mark();
    for (const s of stride) this.int(s);
    this.tuple();
    return this.bool(false).global('collections', 'OrderedDict').emptyTuple().reduce().tuple().reduce();
  }
  bytes(): Uint8Array { return concat(this.parts); }
}

export interface ZipInput {
  readonly name: string;
  readonly data: Uint8Array;
  /** Compression method written into the headers (the data is written as given). */
  readonly method?: number;
  readonly crc?: number;
  readonly flags?: number;
}

export interface ZipOptions {
  /** Write ZIP64 end records and 0xFFFFFFFF placeholders with ZIP64 extra fields. */
  readonly zip64?: boolean;
  /** Pad each entry's data start to this many bytes, as torch does with 64. */
  readonly align?: number;
}

let crcTable: Uint32Array | undefined;
// Fuzz tests re-zip the same storage arrays hundreds of times; remember their CRCs by identity.
const crcCache = new WeakMap<Uint8Array, number>();
/** CRC-32 written independently of the package's implementation (cached per array object). */
export function crc32Reference(bytes: Uint8Array): number {
  const cached = crcCache.get(bytes);
  if (cached !== undefined) return cached;
  const value = crc32Uncached(bytes);
  crcCache.set(bytes, value);
  return value;
}

function crc32Uncached(bytes: Uint8Array): number {
  crcTable ??= Uint32Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  let c = ~0;
  for (const b of bytes) c = crcTable[(c ^ b) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

export function buildZip(inputs: readonly ZipInput[], options: ZipOptions = {}): Uint8Array {
  const align = options.align ?? 64;
  const zip64 = options.zip64 ?? false;
  const parts: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  for (const input of inputs) {
    const name = encoder.encode(input.name);
    const crc = input.crc ?? crc32Reference(input.data);
    const method = input.method ?? 0;
    const flags = input.flags ?? 0;
    const headerEnd = offset + 30 + name.length;
    const padding = (align - ((headerEnd + 4) % align)) % align;
    const extra = concat([le(0x4246, 2), le(padding, 2), new Uint8Array(padding)]);
    const size32 = zip64 ? 0xffffffff : input.data.length;
    const local = concat([
      le(0x04034b50, 4), le(zip64 ? 45 : 20, 2), le(flags, 2), le(method, 2), le(0, 2), le(0x21, 2), le(crc, 4),
      le(input.data.length, 4), le(input.data.length, 4), le(name.length, 2), le(extra.length, 2), name, extra,
    ]);
    const centralExtra = zip64
      ? concat([le(0x0001, 2), le(24, 2), le(input.data.length, 8), le(input.data.length, 8), le(offset, 8)])
      : new Uint8Array(0);
    central.push(concat([
      le(0x02014b50, 4), le(zip64 ? 45 : 20, 2), le(zip64 ? 45 : 20, 2), le(flags, 2), le(method, 2), le(0, 2), le(0x21, 2),
      le(crc, 4), le(size32, 4), le(size32, 4), le(name.length, 2), le(centralExtra.length, 2), le(0, 2), le(0, 2), le(0, 2),
      le(0, 4), le(zip64 ? 0xffffffff : offset, 4), name, centralExtra,
    ]));
    parts.push(local, input.data);
    offset += local.length + input.data.length;
  }
  const directory = concat(central);
  const directoryOffset = offset;
  const tail: Uint8Array[] = [];
  if (zip64) {
    const recordOffset = directoryOffset + directory.length;
    tail.push(concat([
      le(0x06064b50, 4), le(44, 8), le(45, 2), le(45, 2), le(0, 4), le(0, 4),
      le(inputs.length, 8), le(inputs.length, 8), le(directory.length, 8), le(directoryOffset, 8),
    ]));
    tail.push(concat([le(0x07064b50, 4), le(0, 4), le(recordOffset, 8), le(1, 4)]));
  }
  tail.push(concat([
    le(0x06054b50, 4), le(0, 2), le(0, 2), le(zip64 ? 0xffff : inputs.length, 2), le(zip64 ? 0xffff : inputs.length, 2),
    le(zip64 ? 0xffffffff : directory.length, 4), le(zip64 ? 0xffffffff : directoryOffset, 4), le(0, 2),
  ]));
  return concat([...parts, directory, ...tail]);
}

/** A torch.save-style archive around `pickle` with the given storages. */
export function torchArchive(
  pickle: Uint8Array,
  storages: Readonly<Record<string, Uint8Array>> = {},
  options: ZipOptions & { archive?: string; byteOrder?: string } = {},
): Uint8Array {
  const archive = options.archive ?? 'archive';
  const entries: ZipInput[] = [{ name: `${archive}/data.pkl`, data: pickle }];
  if (options.byteOrder !== '') entries.push({ name: `${archive}/byteorder`, data: encoder.encode(options.byteOrder ?? 'little') });
  for (const [key, data] of Object.entries(storages)) entries.push({ name: `${archive}/data/${key}`, data });
  entries.push({ name: `${archive}/version`, data: encoder.encode('3\n') });
  return buildZip(entries, options);
}

/** Little-endian bytes of float32 values. */
export function float32Bytes(values: readonly number[]): Uint8Array {
  return new Uint8Array(Float32Array.from(values).buffer);
}

/** A tiny Lightning-like checkpoint `{'state_dict': {name: F32 tensor}}` with one storage per tensor. */
export function simpleCheckpoint(tensors: Readonly<Record<string, readonly number[]>>): Uint8Array {
  const p = new PickleWriter().proto(2).emptyDict().str('state_dict').global('collections', 'OrderedDict').emptyTuple().reduce().mark();
  const storages: Record<string, Uint8Array> = {};
  Object.entries(tensors).forEach(([name, values], i) => {
    p.str(name).tensor({ type: 'FloatStorage', key: String(i), numel: values.length }, 0, [values.length], [1]);
    storages[String(i)] = float32Bytes(values);
  });
  p.setitems().setitem().stop();
  return torchArchive(p.bytes(), storages);
}
