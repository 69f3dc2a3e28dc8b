import { allowedGlobalKind } from './allow-list.js';
import { storageDtypes } from './dtypes.js';
import { fail } from './errors.js';
import { PyDict, PyGlobal, PyList, PyObject, PySet, PyStorage, PyTensor, PyTuple, type PyValue } from './values.js';

/*
 * A restricted pickle interpreter for torch.save's `data.pkl` (protocol 2, plus the protocol 3-5
 * data opcodes). It is a stack machine over inert values: GLOBAL/STACK_GLOBAL resolve only names
 * on the allow-list, REDUCE/NEWOBJ/BUILD on them are interpreted here as data constructors, and
 * every opcode that could run code (INST, OBJ, NEWOBJ_EX, EXT*, text PERSID) is refused.
 */

const opcodeNames: Readonly<Record<number, string>> = {
  0x69: 'INST', 0x6f: 'OBJ', 0x92: 'NEWOBJ_EX', 0x50: 'PERSID', 0x82: 'EXT1', 0x83: 'EXT2', 0x84: 'EXT4',
};

/** Opcodes that construct objects by calling or importing arbitrary names: never accepted. */
const forbiddenOpcodes = new Set([0x69, 0x6f, 0x92, 0x50, 0x82, 0x83, 0x84]);

class Reader {
  position = 0;
  private readonly view: DataView;
  private readonly decoder = new TextDecoder('utf-8', { fatal: true });
  constructor(private readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  private need(count: number, what: string): number {
    const at = this.position;
    if (count > this.bytes.length - at) {
      fail('truncated', `data.pkl ends inside ${what} at byte ${at} (needs ${count} more bytes, ${this.bytes.length - at} left)`);
    }
    this.position = at + count;
    return at;
  }
  u8(what: string): number { return this.bytes[this.need(1, what)]!; }
  u16(what: string): number { return this.view.getUint16(this.need(2, what), true); }
  u32(what: string): number { return this.view.getUint32(this.need(4, what), true); }
  i32(what: string): number { return this.view.getInt32(this.need(4, what), true); }
  u64(what: string): number {
    const value = this.view.getBigUint64(this.need(8, what), true);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) fail('too-large', `data.pkl declares a ${what} of ${value} bytes`);
    return Number(value);
  }
  f64BigEndian(what: string): number { return this.view.getFloat64(this.need(8, what), false); }
  take(count: number, what: string): Uint8Array {
    const at = this.need(count, what);
    return this.bytes.subarray(at, at + count);
  }
  utf8(count: number, what: string): string {
    const raw = this.take(count, what);
    try {
      return this.decoder.decode(raw);
    } catch {
      return fail('bad-pickle', `${what} at byte ${this.position - count} is not valid UTF-8`);
    }
  }
  line(what: string): string {
    const end = this.bytes.indexOf(0x0a, this.position);
    if (end < 0) fail('truncated', `data.pkl ends inside ${what} at byte ${this.position}`);
    const text = this.utf8(end - this.position, what);
    this.position = end + 1;
    return text;
  }
  i32Length(what: string): number {
    const length = this.i32(`${what} length`);
    if (length < 0) fail('bad-pickle', `${what} length must be ≥ 0, got ${length}`);
    return length;
  }
  get remaining(): number { return this.bytes.length - this.position; }
  get done(): boolean { return this.position >= this.bytes.length; }
}

function describe(value: PyValue): string {
  if (value === null) return 'None';
  if (typeof value === 'boolean') return 'bool';
  if (typeof value === 'number') return Number.isInteger(value) ? 'int' : 'float';
  if (typeof value === 'bigint') return 'int';
  if (typeof value === 'string') return 'str';
  if (value instanceof Uint8Array) return 'bytes';
  if (value instanceof PyGlobal) return value.qualifiedName;
  if (value instanceof PyDict) return value.className;
  if (value instanceof PyObject) return value.className;
  if (value instanceof PyList) return 'list';
  if (value instanceof PyTuple) return 'tuple';
  if (value instanceof PySet) return value.frozen ? 'frozenset' : 'set';
  if (value instanceof PyStorage) return 'storage';
  return 'tensor';
}

function asInteger(value: PyValue, what: string): number {
  if (typeof value === 'number' && Number.isSafeInteger(value)) return value;
  if (typeof value === 'bigint') fail('too-large', `${what} must fit in 2^53, got ${value}`);
  return fail('bad-pickle', `${what} must be an int, got ${describe(value)}`);
}

function asIntegerTuple(value: PyValue, what: string): number[] {
  if (!(value instanceof PyTuple)) fail('bad-pickle', `${what} must be a tuple of ints, got ${describe(value)}`);
  return value.items.map((item, i) => asInteger(item, `${what}[${i}]`));
}

function tupleArgs(value: PyValue, callee: string): readonly PyValue[] {
  if (!(value instanceof PyTuple)) fail('bad-pickle', `arguments to ${callee} must be a tuple, got ${describe(value)}`);
  return value.items;
}

function rebuildTensor(args: readonly PyValue[], callee: string, minimum: number, maximum: number): PyTensor {
  if (args.length < minimum || args.length > maximum) {
    fail('bad-pickle', `${callee} takes ${minimum}–${maximum} arguments, got ${args.length}`);
  }
  const storage = args[0]!;
  if (!(storage instanceof PyStorage)) fail('bad-pickle', `${callee}: first argument must be a storage, got ${describe(storage)}`);
  const offset = asInteger(args[1]!, `${callee} storage offset`);
  const shape = asIntegerTuple(args[2]!, `${callee} size`);
  const stride = asIntegerTuple(args[3]!, `${callee} stride`);
  if (offset < 0) fail('bad-tensor', `${callee}: storage offset must be ≥ 0, got ${offset}`);
  if (shape.length !== stride.length) {
    fail('bad-tensor', `${callee}: size and stride must have equal lengths, got [${shape.join(',')}] and [${stride.join(',')}]`);
  }
  if (shape.some((d) => d < 0) || stride.some((s) => s < 0)) {
    fail('bad-tensor', `${callee}: size and stride must be ≥ 0, got [${shape.join(',')}] and [${stride.join(',')}]`);
  }
  if (args.length > 4 && typeof args[4] !== 'boolean') fail('bad-pickle', `${callee}: requires_grad must be a bool, got ${describe(args[4]!)}`);
  // Backward hooks would be callables; an allow-listed pickle can only carry an empty dict here.
  const hooks = args[5];
  if (args.length > 5 && !(hooks instanceof PyDict && hooks.items.size === 0)) {
    fail('bad-pickle', `${callee}: backward hooks must be an empty dict, got ${describe(hooks!)}`);
  }
  return new PyTensor(storage, offset, shape, stride);
}

function asTensor(value: PyValue, callee: string): PyTensor {
  if (!(value instanceof PyTensor)) fail('bad-pickle', `${callee}: data must be a tensor, got ${describe(value)}`);
  return value;
}

function callGlobal(callee: PyGlobal, argsValue: PyValue): PyValue {
  const name = callee.qualifiedName;
  const args = tupleArgs(argsValue, name);
  switch (callee.kind) {
    case 'dict-class':
      if (args.length !== 0) fail('bad-pickle', `${name} must be called with no arguments, got ${args.length}`);
      return new PyDict(name);
    case 'rebuild-tensor':
      return rebuildTensor(args, name, 4, 4);
    case 'rebuild-tensor-v2':
      return rebuildTensor(args, name, 6, 7);
    case 'rebuild-parameter':
    case 'rebuild-parameter-with-state': {
      const count = callee.kind === 'rebuild-parameter' ? 3 : 4;
      if (args.length !== count) fail('bad-pickle', `${name} takes ${count} arguments, got ${args.length}`);
      return asTensor(args[0]!, name);
    }
    case 'rebuild-from-type-v2': {
      if (args.length !== 4) fail('bad-pickle', `${name} takes 4 arguments, got ${args.length}`);
      const [inner, type, innerArgs] = args as [PyValue, PyValue, PyValue];
      if (!(type instanceof PyGlobal) || type.kind !== 'tensor-class') {
        fail('forbidden-call', `${name}: the tensor type must be torch.Tensor or torch.nn.Parameter, got ${describe(type)}`);
      }
      if (!(inner instanceof PyGlobal) || !['rebuild-tensor', 'rebuild-tensor-v2', 'rebuild-parameter'].includes(inner.kind)) {
        fail('forbidden-call', `${name}: the rebuild function must be an allow-listed tensor rebuild, got ${describe(inner)}`);
      }
      return asTensor(callGlobal(inner, innerArgs), name);
    }
    case 'set':
    case 'frozenset': {
      if (args.length > 1) fail('bad-pickle', `${name} takes at most 1 argument, got ${args.length}`);
      const source = args[0];
      if (source !== undefined && !(source instanceof PyList || source instanceof PyTuple)) {
        fail('bad-pickle', `${name} argument must be a list, got ${describe(source)}`);
      }
      return new PySet(source ? [...source.items] : [], callee.kind === 'frozenset');
    }
    case 'bytes':
      if (args.length !== 0) fail('bad-pickle', `${name} is accepted only without arguments (empty bytes), got ${args.length}`);
      return new Uint8Array(0);
    case 'codecs-encode': {
      const [text, encoding] = args;
      if (args.length !== 2 || typeof text !== 'string' || (encoding !== 'latin1' && encoding !== 'latin-1')) {
        fail('bad-pickle', `${name} is accepted only as encode(str, 'latin1') (how protocol 2 writes bytes)`);
      }
      const out = new Uint8Array(text.length);
      for (let i = 0; i < text.length; i++) {
        const code = text.charCodeAt(i);
        if (code > 0xff) fail('bad-pickle', `${name}: character U+${code.toString(16)} is outside latin1`);
        out[i] = code;
      }
      return out;
    }
    case 'torch-size':
      if (args.length > 1) fail('bad-pickle', `${name} takes at most 1 argument, got ${args.length}`);
      return new PyTuple(args[0] === undefined ? [] : asIntegerTuple(args[0], name));
    case 'torch-device': {
      const [type, index] = args;
      if (typeof type !== 'string' || args.length > 2) fail('bad-pickle', `${name} must be called as device(str[, int])`);
      return index === undefined || index === null ? type : `${type}:${asInteger(index, `${name} index`)}`;
    }
    case 'inert':
      return new PyObject(name, args);
    default:
      return fail('forbidden-call', `${name} may appear as a value but not be called`);
  }
}

function newObject(cls: PyValue, argsValue: PyValue): PyValue {
  if (!(cls instanceof PyGlobal)) fail('forbidden-call', `NEWOBJ needs an allow-listed class, got ${describe(cls)}`);
  const args = tupleArgs(argsValue, cls.qualifiedName);
  if (cls.kind === 'inert') return new PyObject(cls.qualifiedName, args);
  if (args.length !== 0) fail('bad-pickle', `${cls.qualifiedName} must be created with no arguments, got ${args.length}`);
  if (cls.kind === 'dict-class') return new PyDict(cls.qualifiedName);
  if (cls.kind === 'object-class') return new PyObject(cls.qualifiedName);
  return fail('forbidden-call', `NEWOBJ may only create allow-listed plain-data classes, got ${cls.qualifiedName}`);
}

function build(target: PyValue, state: PyValue): void {
  if (target instanceof PyDict) {
    target.attributes = state;
    return;
  }
  if (target instanceof PyObject) {
    target.state = state;
    return;
  }
  fail('forbidden-call', `BUILD may only set the state of a dict or an allow-listed plain-data object, got ${describe(target)}`);
}

function setItem(target: PyValue, key: PyValue, value: PyValue): void {
  if (!(target instanceof PyDict)) fail('bad-pickle', `SETITEM(S) needs a dict, got ${describe(target)}`);
  target.items.set(key, value);
}

class Unpickler {
  private stack: PyValue[] = [];
  private readonly marks: PyValue[][] = [];
  private readonly memo = new Map<number, PyValue>();
  private readonly storages = new Map<string, PyStorage>();
  private readonly reader: Reader;

  constructor(
    bytes: Uint8Array,
    private readonly inertGlobals: ReadonlySet<string>,
  ) {
    this.reader = new Reader(bytes);
  }

  private pop(opcode: string): PyValue {
    if (this.stack.length === 0) fail('bad-pickle', `${opcode} at byte ${this.reader.position} needs a value, the stack is empty`);
    return this.stack.pop()!;
  }

  private top(opcode: string): PyValue {
    if (this.stack.length === 0) fail('bad-pickle', `${opcode} at byte ${this.reader.position} needs a value, the stack is empty`);
    return this.stack[this.stack.length - 1]!;
  }

  private popMark(opcode: string): PyValue[] {
    const items = this.stack;
    const previous = this.marks.pop();
    if (previous === undefined) fail('bad-pickle', `${opcode} at byte ${this.reader.position} has no matching MARK`);
    this.stack = previous;
    return items;
  }

  private get(index: number): PyValue {
    if (!this.memo.has(index)) fail('bad-pickle', `memo key ${index} is read before it is written`);
    return this.memo.get(index)!;
  }

  private resolveGlobal(module: string, name: string): PyGlobal {
    const qualified = `${module}.${name}`;
    const kind = allowedGlobalKind(qualified) ?? (this.inertGlobals.has(qualified) ? 'inert' : undefined);
    if (kind === undefined) {
      const storage = module === 'torch' && /Storage$/.test(name);
      fail(
        storage ? 'unsupported-dtype' : 'forbidden-global',
        storage
          ? `storage type ${qualified} is not supported (supported: ${Object.keys(storageDtypes).join(', ')})`
          : `global ${qualified} is not on the allow-list, so nothing was loaded (a tensor state dict never needs it; if it only ` +
            'describes metadata you trust as plain data, list it in options.inertGlobals)',
      );
    }
    return new PyGlobal(module, name, kind);
  }

  private persistentLoad(pid: PyValue): PyStorage {
    if (!(pid instanceof PyTuple) || pid.items.length !== 5 || pid.items[0] !== 'storage') {
      fail('bad-pickle', `persistent id must be ('storage', type, key, location, numel), got ${describe(pid)}`);
    }
    const [, type, key, location, numelValue] = pid.items;
    if (!(type instanceof PyGlobal) || type.kind !== 'storage') {
      fail('bad-pickle', `persistent id storage type must be a torch.*Storage, got ${describe(type!)}`);
    }
    if (typeof key !== 'string') fail('bad-pickle', `persistent id key must be a str, got ${describe(key!)}`);
    if (typeof location !== 'string') fail('bad-pickle', `persistent id location must be a str, got ${describe(location!)}`);
    const numel = asInteger(numelValue!, `storage '${key}' element count`);
    if (numel < 0) fail('bad-storage', `storage '${key}' element count must be ≥ 0, got ${numel}`);
    const dtype = storageDtypes[type.name]!;
    const known = this.storages.get(key);
    if (known) {
      if (known.dtype !== dtype || known.numel !== numel) {
        fail('bad-storage', `storage '${key}' is declared twice with different types or sizes (${known.dtype}×${known.numel}, ${dtype}×${numel})`);
      }
      return known;
    }
    const storage = new PyStorage(key, dtype, numel, location);
    this.storages.set(key, storage);
    return storage;
  }

  run(): PyValue {
    const r = this.reader;
    for (;;) {
      const at = r.position;
      if (r.done) fail('truncated', `data.pkl ends at byte ${at} without a STOP opcode`);
      const op = r.u8('an opcode');
      switch (op) {
        case 0x80: { // PROTO
          const protocol = r.u8('PROTO');
          if (protocol > 5) fail('bad-pickle', `pickle protocol must be ≤ 5, got ${protocol}`);
          break;
        }
        case 0x95: r.u64('FRAME length'); break; // FRAME: framing is only a read-ahead hint
        case 0x2e: { // STOP
          const result = this.pop('STOP');
          if (!r.done) fail('bad-pickle', `data.pkl has ${r.remaining} bytes after STOP`);
          return result;
        }
        case 0x28: this.marks.push(this.stack); this.stack = []; break; // MARK
        case 0x7d: this.stack.push(new PyDict()); break; // EMPTY_DICT
        case 0x5d: this.stack.push(new PyList()); break; // EMPTY_LIST
        case 0x29: this.stack.push(new PyTuple([])); break; // EMPTY_TUPLE
        case 0x8f: this.stack.push(new PySet([], false)); break; // EMPTY_SET
        case 0x4e: this.stack.push(null); break; // NONE
        case 0x88: this.stack.push(true); break; // NEWTRUE
        case 0x89: this.stack.push(false); break; // NEWFALSE
        case 0x4b: this.stack.push(r.u8('BININT1')); break;
        case 0x4d: this.stack.push(r.u16('BININT2')); break;
        case 0x4a: this.stack.push(r.i32('BININT')); break;
        case 0x8a: this.stack.push(this.readLong(r.u8('LONG1 length'))); break;
        case 0x8b: this.stack.push(this.readLong(r.i32Length('LONG4'))); break;
        case 0x47: this.stack.push(r.f64BigEndian('BINFLOAT')); break;
        case 0x58: this.stack.push(r.utf8(r.u32('BINUNICODE length'), 'BINUNICODE')); break;
        case 0x8c: this.stack.push(r.utf8(r.u8('SHORT_BINUNICODE length'), 'SHORT_BINUNICODE')); break;
        case 0x8d: this.stack.push(r.utf8(r.u64('BINUNICODE8 length'), 'BINUNICODE8')); break;
        case 0x42: this.stack.push(r.take(r.u32('BINBYTES length'), 'BINBYTES').slice()); break;
        case 0x43: this.stack.push(r.take(r.u8('SHORT_BINBYTES length'), 'SHORT_BINBYTES').slice()); break;
        case 0x8e: this.stack.push(r.take(r.u64('BINBYTES8 length'), 'BINBYTES8').slice()); break;
        case 0x54: this.stack.push(latin1(r.take(r.i32Length('BINSTRING'), 'BINSTRING'))); break;
        case 0x55: this.stack.push(latin1(r.take(r.u8('SHORT_BINSTRING length'), 'SHORT_BINSTRING'))); break;
        case 0x74: { const items = this.popMark('TUPLE'); this.stack.push(new PyTuple(items)); break; }
        case 0x85: this.stack.push(new PyTuple([this.pop('TUPLE1')])); break;
        case 0x86: { const b = this.pop('TUPLE2'); const a = this.pop('TUPLE2'); this.stack.push(new PyTuple([a, b])); break; }
        case 0x87: {
          const c = this.pop('TUPLE3'); const b = this.pop('TUPLE3'); const a = this.pop('TUPLE3');
          this.stack.push(new PyTuple([a, b, c]));
          break;
        }
        case 0x6c: { const items = this.popMark('LIST'); this.stack.push(new PyList(items)); break; }
        case 0x64: { // DICT
          const items = this.popMark('DICT');
          const dict = new PyDict();
          if (items.length % 2 !== 0) fail('bad-pickle', `DICT at byte ${at} needs key/value pairs, got ${items.length} items`);
          for (let i = 0; i < items.length; i += 2) dict.items.set(items[i]!, items[i + 1]!);
          this.stack.push(dict);
          break;
        }
        case 0x61: { // APPEND
          const value = this.pop('APPEND');
          const list = this.top('APPEND');
          if (!(list instanceof PyList)) fail('bad-pickle', `APPEND at byte ${at} needs a list, got ${describe(list)}`);
          list.items.push(value);
          break;
        }
        case 0x65: { // APPENDS
          const items = this.popMark('APPENDS');
          const list = this.top('APPENDS');
          if (!(list instanceof PyList)) fail('bad-pickle', `APPENDS at byte ${at} needs a list, got ${describe(list)}`);
          for (const item of items) list.items.push(item);
          break;
        }
        case 0x90: { // ADDITEMS
          const items = this.popMark('ADDITEMS');
          const set = this.top('ADDITEMS');
          if (!(set instanceof PySet) || set.frozen) fail('bad-pickle', `ADDITEMS at byte ${at} needs a set, got ${describe(set)}`);
          for (const item of items) set.items.push(item);
          break;
        }
        case 0x91: { const items = this.popMark('FROZENSET'); this.stack.push(new PySet(items, true)); break; }
        case 0x73: { // SETITEM
          const value = this.pop('SETITEM');
          const key = this.pop('SETITEM');
          setItem(this.top('SETITEM'), key, value);
          break;
        }
        case 0x75: { // SETITEMS
          const items = this.popMark('SETITEMS');
          if (items.length % 2 !== 0) fail('bad-pickle', `SETITEMS at byte ${at} needs key/value pairs, got ${items.length} items`);
          const dict = this.top('SETITEMS');
          for (let i = 0; i < items.length; i += 2) setItem(dict, items[i]!, items[i + 1]!);
          break;
        }
        case 0x71: this.memo.set(r.u8('BINPUT'), this.top('BINPUT')); break;
        case 0x72: this.memo.set(r.u32('LONG_BINPUT'), this.top('LONG_BINPUT')); break;
        case 0x94: this.memo.set(this.memo.size, this.top('MEMOIZE')); break;
        case 0x68: this.stack.push(this.get(r.u8('BINGET'))); break;
        case 0x6a: this.stack.push(this.get(r.u32('LONG_BINGET'))); break;
        case 0x30: this.pop('POP'); break;
        case 0x31: this.popMark('POP_MARK'); break;
        case 0x32: this.stack.push(this.top('DUP')); break;
        case 0x63: { // GLOBAL "module\nname\n"
          const module = r.line('GLOBAL module');
          const name = r.line('GLOBAL name');
          this.stack.push(this.resolveGlobal(module, name));
          break;
        }
        case 0x93: { // STACK_GLOBAL
          const name = this.pop('STACK_GLOBAL');
          const module = this.pop('STACK_GLOBAL');
          if (typeof module !== 'string' || typeof name !== 'string') {
            fail('bad-pickle', `STACK_GLOBAL at byte ${at} needs two strings, got ${describe(module)} and ${describe(name)}`);
          }
          this.stack.push(this.resolveGlobal(module, name));
          break;
        }
        case 0x52: { // REDUCE
          const args = this.pop('REDUCE');
          const callee = this.pop('REDUCE');
          if (!(callee instanceof PyGlobal)) fail('forbidden-call', `REDUCE at byte ${at} needs an allow-listed global, got ${describe(callee)}`);
          this.stack.push(callGlobal(callee, args));
          break;
        }
        case 0x81: { // NEWOBJ
          const args = this.pop('NEWOBJ');
          const cls = this.pop('NEWOBJ');
          this.stack.push(newObject(cls, args));
          break;
        }
        case 0x62: { // BUILD
          const state = this.pop('BUILD');
          build(this.top('BUILD'), state);
          break;
        }
        case 0x51: this.stack.push(this.persistentLoad(this.pop('BINPERSID'))); break;
        default:
          if (forbiddenOpcodes.has(op)) {
            fail('forbidden-opcode', `opcode ${opcodeNames[op]} (0x${op.toString(16)}) at byte ${at} can run code and is never accepted`);
          }
          fail('unknown-opcode', `opcode 0x${op.toString(16).padStart(2, '0')} at byte ${at} is not supported by this restricted unpickler`);
      }
    }
  }

  private readLong(length: number): number | bigint {
    if (length === 0) return 0;
    // Real checkpoints hold at most 64-bit integers; refusing longer ones keeps the quadratic
    // BigInt assembly below from becoming a denial of service.
    if (length > 64) fail('too-large', `integer of ${length} bytes at byte ${this.reader.position} is longer than the 64 accepted`);
    const bytes = this.reader.take(length, 'LONG');
    // Little-endian two's complement of arbitrary width.
    let value = 0n;
    for (let i = length - 1; i >= 0; i--) value = (value << 8n) | BigInt(bytes[i]!);
    if (bytes[length - 1]! & 0x80) value -= 1n << BigInt(8 * length);
    const asNumber = Number(value);
    return Number.isSafeInteger(asNumber) ? asNumber : value;
  }
}

function latin1(bytes: Uint8Array): string {
  let text = '';
  for (let i = 0; i < bytes.length; i++) text += String.fromCharCode(bytes[i]!);
  return text;
}

/**
 * Run the restricted unpickler over `data.pkl` and return its root value. `inertGlobals` are
 * extra `module.name`s accepted as opaque records (never called).
 */
export function unpickle(bytes: Uint8Array, inertGlobals: ReadonlySet<string> = new Set()): PyValue {
  return new Unpickler(bytes, inertGlobals).run();
}
