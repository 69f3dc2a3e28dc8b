/**
 * A minimal WebAssembly binary writer: just the sections, value types and instructions the search
 * kernel needs (MVP control flow, i32/f32 scalar ops and the fixed-width 128-bit SIMD subset).
 * Opcodes follow the WebAssembly core specification 2.0 (SIMD ops: 0xFD prefix + LEB128 opcode).
 */

export const I32 = 0x7f;
export const F32 = 0x7d;
export const V128 = 0x7b;
export type ValueType = typeof I32 | typeof F32 | typeof V128;

/** Scalar opcodes (one byte). */
export const Op = {
  block: 0x02,
  loop: 0x03,
  if: 0x04,
  end: 0x0b,
  br: 0x0c,
  brIf: 0x0d,
  call: 0x10,
  localGet: 0x20,
  localSet: 0x21,
  localTee: 0x22,
  i32Load: 0x28,
  f32Load: 0x2a,
  i32Store: 0x36,
  f32Store: 0x38,
  i32Const: 0x41,
  i32Eqz: 0x45,
  i32LtU: 0x49,
  i32GeU: 0x4f,
  f32Gt: 0x5e,
  f32Ge: 0x60,
  i32Add: 0x6a,
  i32Mul: 0x6c,
  f32Sub: 0x93,
} as const;

/** SIMD opcodes (after the 0xFD prefix). */
export const SimdOp = {
  v128Load: 0x00,
  v128Load32Splat: 0x09,
  v128Store: 0x0b,
  v128Const: 0x0c,
  f32x4Ge: 0x46,
  v128Or: 0x50,
  v128AnyTrue: 0x53,
  f32x4Add: 0xe4,
  f32x4Mul: 0xe6,
} as const;

const EMPTY_BLOCK = 0x40;

function unsignedLeb(value: number, out: number[]): void {
  let rest = value >>> 0;
  do {
    const byte = rest & 0x7f;
    rest >>>= 7;
    out.push(rest === 0 ? byte : byte | 0x80);
  } while (rest !== 0);
}

function signedLeb(value: number, out: number[]): void {
  let rest = value | 0;
  for (;;) {
    const byte = rest & 0x7f;
    rest >>= 7;
    const done = (rest === 0 && (byte & 0x40) === 0) || (rest === -1 && (byte & 0x40) !== 0);
    out.push(done ? byte : byte | 0x80);
    if (done) return;
  }
}

/** Alignment exponent for a memarg: 2 for 4-byte scalars, 4 for v128 (a hint; wasm never traps on it). */
function alignmentOf(bytes: number): number {
  return bytes === 16 ? 4 : bytes === 4 ? 2 : 0;
}

/** Builds one function body. Locals are declared up front; parameters come first in the index space. */
export class FunctionWriter {
  readonly code: number[] = [];
  private readonly locals: ValueType[] = [];

  constructor(private readonly paramCount: number) {}

  /** Declares a local and returns its index. */
  local(type: ValueType): number {
    this.locals.push(type);
    return this.paramCount + this.locals.length - 1;
  }

  op(opcode: number): this {
    this.code.push(opcode);
    return this;
  }

  simd(opcode: number): this {
    this.code.push(0xfd);
    unsignedLeb(opcode, this.code);
    return this;
  }

  get(index: number): this {
    this.code.push(Op.localGet);
    unsignedLeb(index, this.code);
    return this;
  }

  set(index: number): this {
    this.code.push(Op.localSet);
    unsignedLeb(index, this.code);
    return this;
  }

  tee(index: number): this {
    this.code.push(Op.localTee);
    unsignedLeb(index, this.code);
    return this;
  }

  i32(value: number): this {
    this.code.push(Op.i32Const);
    signedLeb(value, this.code);
    return this;
  }

  /** A load or store with its byte offset immediate; `bytes` is the access width. */
  memory(opcode: number, offset: number, bytes: number): this {
    this.code.push(opcode, alignmentOf(bytes));
    unsignedLeb(offset, this.code);
    return this;
  }

  simdMemory(opcode: number, offset: number, bytes: number): this {
    this.simd(opcode);
    this.code.push(alignmentOf(bytes));
    unsignedLeb(offset, this.code);
    return this;
  }

  v128Zero(): this {
    this.simd(SimdOp.v128Const);
    for (let i = 0; i < 16; i++) this.code.push(0);
    return this;
  }

  /** `block`, `loop` or `if` without a result. */
  begin(opcode: typeof Op.block | typeof Op.loop | typeof Op.if): this {
    this.code.push(opcode, EMPTY_BLOCK);
    return this;
  }

  branch(opcode: typeof Op.br | typeof Op.brIf, depth: number): this {
    this.code.push(opcode);
    unsignedLeb(depth, this.code);
    return this;
  }

  call(index: number): this {
    this.code.push(Op.call);
    unsignedLeb(index, this.code);
    return this;
  }

  /** The encoded body: local declarations (run-length by type), code, `end`. */
  encode(): number[] {
    const out: number[] = [];
    const runs: [number, ValueType][] = [];
    for (const type of this.locals) {
      const last = runs[runs.length - 1];
      if (last !== undefined && last[1] === type) last[0]++;
      else runs.push([1, type]);
    }
    unsignedLeb(runs.length, out);
    for (const [count, type] of runs) {
      unsignedLeb(count, out);
      out.push(type);
    }
    out.push(...this.code, Op.end);
    const sized: number[] = [];
    unsignedLeb(out.length, sized);
    return sized.concat(out);
  }
}

export interface FunctionSpec {
  readonly params: readonly ValueType[];
  readonly body: FunctionWriter;
  /** Exported under this name when given. */
  readonly exportName?: string;
}

function section(id: number, payload: number[], out: number[]): void {
  out.push(id);
  unsignedLeb(payload.length, out);
  out.push(...payload);
}

function name(text: string, out: number[]): void {
  unsignedLeb(text.length, out);
  for (let i = 0; i < text.length; i++) out.push(text.charCodeAt(i));
}

/**
 * A module that imports its memory as `env.memory` (minimum `minPages` 64 KiB pages) and defines
 * `functions` with no results, each with its own type entry.
 */
export function encodeModule(functions: readonly FunctionSpec[], minPages: number): Uint8Array<ArrayBuffer> {
  const out: number[] = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
  const types: number[] = [];
  unsignedLeb(functions.length, types);
  for (const fn of functions) {
    types.push(0x60);
    unsignedLeb(fn.params.length, types);
    types.push(...fn.params, 0x00);
  }
  section(1, types, out);
  const imports: number[] = [0x01];
  name('env', imports);
  name('memory', imports);
  imports.push(0x02, 0x00);
  unsignedLeb(minPages, imports);
  section(2, imports, out);
  const declarations: number[] = [];
  unsignedLeb(functions.length, declarations);
  functions.forEach((_, index) => unsignedLeb(index, declarations));
  section(3, declarations, out);
  const exported = functions.map((fn, index) => [fn.exportName, index] as const).filter(([exportName]) => exportName !== undefined);
  const exports: number[] = [];
  unsignedLeb(exported.length, exports);
  for (const [exportName, index] of exported) {
    name(exportName!, exports);
    exports.push(0x00);
    unsignedLeb(index, exports);
  }
  section(7, exports, out);
  const code: number[] = [];
  unsignedLeb(functions.length, code);
  for (const fn of functions) code.push(...fn.body.encode());
  section(10, code, out);
  return new Uint8Array(out);
}
