import { safetensorsDtypeBytes } from '@gq/safetensors';
import { typedArrayFromBuffer, type CheckpointDtype, type CheckpointTensor } from './dtypes.js';
import { CheckpointError, fail } from './errors.js';
import { unpickle } from './pickle.js';
import { PyDict, PyGlobal, PyList, PyObject, PySet, PyStorage, PyTensor, PyTuple, type PyValue } from './values.js';
import { readZipDirectory, readZipEntry, type ZipEntry } from './zip.js';

/** A non-tensor value from a checkpoint, as plain data (dicts become objects with string keys). */
export type CheckpointValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | CheckpointTensor
  | readonly CheckpointValue[]
  | { readonly [key: string]: CheckpointValue };

export interface ReadTorchCheckpointOptions {
  /**
   * Top-level entry holding the state dict. Default: `'state_dict'` when the top-level dict has
   * it (PyTorch Lightning), otherwise the top-level dict itself when it holds tensors
   * (`torch.save(model.state_dict())`). `null` forces the top-level dict.
   */
  readonly key?: string | null;
  /**
   * Top-level entries that are unpickled and validated like everything else but not converted
   * and whose storages are not read. Default `['optimizer_states', 'lr_schedulers']`.
   */
  readonly skipKeys?: readonly string[];
  /** Check every zip entry that is read against its CRC-32. Default `true`. */
  readonly verifyCrc?: boolean;
  /**
   * Extra globals (`'module.name'`) to accept as inert data, e.g. `'numpy.dtype'` in a callback's
   * state. They are never looked up or called: a call or NEWOBJ on one yields
   * `{ __class__, args, state }` in `metadata`/`extras`, and one can never stand in for a tensor
   * or storage. Default none.
   */
  readonly inertGlobals?: readonly string[];
  /**
   * Budgets that bound the time and memory a file can demand; each exceeded budget is a
   * `too-large` error naming it, its limit and the value seen. Raise one only for a file you trust.
   */
  readonly limits?: CheckpointLimits;
}

/** Resource budgets of `readTorchCheckpoint` (every field optional; defaults below). */
export interface CheckpointLimits {
  /**
   * Total bytes of tensor data materialised, all tensors together (shared and expanded views
   * count each time they are copied). Default: twice the file's size, at least 256 MiB.
   */
  readonly maxTensorBytes?: number;
  /** Pickle objects visited while walking and converting the state dict and metadata. Default 250 000. */
  readonly maxObjects?: number;
  /** Nesting depth of containers (lists, dicts, tuples, dict-key tuples). Default 256. */
  readonly maxDepth?: number;
}

export interface TorchCheckpoint {
  /** The flattened state dict: nested dicts joined with '.', in pickle order. */
  readonly tensors: Map<string, CheckpointTensor>;
  /** Non-tensor values inside the state dict, under their flattened names. */
  readonly extras: Map<string, CheckpointValue>;
  /** The other top-level entries (epoch, global_step, hyper_parameters, ...), minus `skipped`. */
  readonly metadata: Readonly<Record<string, CheckpointValue>>;
  /** Top-level keys present in `skipKeys` (validated, not converted). */
  readonly skipped: readonly string[];
  /** The top-level key the state dict was read from, or null for the top-level dict itself. */
  readonly stateDictKey: string | null;
  /** The archive's top-level folder (torch names it after the file stem). */
  readonly archiveName: string;
  /** Byte order of the storages, from the archive's `byteorder` entry. */
  readonly byteOrder: 'little' | 'big';
}

/** Tensors larger than this many elements are refused rather than allocated. */
const maxTensorElements = 2 ** 31;
/** Expanded (stride-0) views that would materialise to more bytes than this are refused. */
const maxExpandedBytes = 256 * 2 ** 20;
const defaultSkipKeys = ['optimizer_states', 'lr_schedulers'];
/** Floor of the default `maxTensorBytes`, so that small files with tied weights still read. */
const minimumTensorBytes = 256 * 2 ** 20;
const defaultMaxObjects = 250_000;
/** Python containers nested deeper than this are refused (keeps conversion off the JS stack limit). */
const defaultMaxDepth = 256;
/** A raised `maxDepth` still has to fit the JavaScript stack of the recursive conversion. */
const largestMaxDepth = 4096;

/** The budgets in force for one read, and what has been spent of them. */
class Budget {
  private bytes = 0;
  private objects = 0;
  readonly maxTensorBytes: number;
  readonly maxObjects: number;
  readonly maxDepth: number;

  constructor(limits: CheckpointLimits, fileBytes: number) {
    this.maxTensorBytes = limits.maxTensorBytes ?? Math.max(minimumTensorBytes, 2 * fileBytes);
    this.maxObjects = limits.maxObjects ?? defaultMaxObjects;
    this.maxDepth = limits.maxDepth ?? defaultMaxDepth;
  }

  /** Reserve `count` bytes of tensor data for `name` before they are allocated. */
  spendBytes(count: number, name: string): void {
    if (this.bytes + count > this.maxTensorBytes) {
      fail(
        'too-large',
        `limits.maxTensorBytes: tensor '${name}' would bring the tensor data materialised to ${this.bytes + count} bytes, ` +
          `more than the limit of ${this.maxTensorBytes}`,
      );
    }
    this.bytes += count;
  }

  /** Count one visited object at `path`. */
  visit(path: string): void {
    if (++this.objects > this.maxObjects) {
      fail('too-large', `limits.maxObjects: reading '${path}' visits more than the limit of ${this.maxObjects} pickle objects (shared objects reached by many names count once per name)`);
    }
  }

  /** Check a nesting depth. */
  depth(depth: number, what: string): void {
    if (depth > this.maxDepth) fail('too-large', `limits.maxDepth: ${what} is nested more than ${this.maxDepth} levels deep (the limit)`);
  }
}

function toBytes(source: unknown): Uint8Array {
  if (source instanceof Uint8Array) return source;
  if (source instanceof ArrayBuffer) return new Uint8Array(source);
  if (ArrayBuffer.isView(source)) return new Uint8Array(source.buffer, source.byteOffset, source.byteLength);
  return fail('bad-input', `bytes must be a Uint8Array or an ArrayBuffer, got ${source === null ? 'null' : typeof source}`);
}

function checkOptions(options: ReadTorchCheckpointOptions): void {
  if (typeof options !== 'object' || options === null) fail('bad-option', `options must be an object, got ${String(options)}`);
  const { key, skipKeys, verifyCrc, inertGlobals } = options;
  if (key !== undefined && key !== null && typeof key !== 'string') fail('bad-option', `key must be a string or null, got ${typeof key}`);
  if (skipKeys !== undefined && !(Array.isArray(skipKeys) && skipKeys.every((k) => typeof k === 'string'))) {
    fail('bad-option', 'skipKeys must be an array of strings');
  }
  if (inertGlobals !== undefined && !(Array.isArray(inertGlobals) && inertGlobals.every((g) => typeof g === 'string' && /^[^.\s]+(\.[^.\s]+)+$/.test(g)))) {
    fail('bad-option', "inertGlobals must be an array of 'module.name' strings");
  }
  if (verifyCrc !== undefined && typeof verifyCrc !== 'boolean') fail('bad-option', `verifyCrc must be a boolean, got ${typeof verifyCrc}`);
  const limits: unknown = options.limits;
  if (limits === undefined) return;
  if (typeof limits !== 'object' || limits === null) fail('bad-option', `limits must be an object, got ${String(limits)}`);
  for (const [name, value] of Object.entries(limits)) {
    if (!['maxTensorBytes', 'maxObjects', 'maxDepth'].includes(name)) fail('bad-option', `limits has no budget '${name}' (maxTensorBytes, maxObjects, maxDepth)`);
    if (value !== undefined && !(Number.isSafeInteger(value) && (value as number) >= 0)) fail('bad-option', `limits.${name} must be a non-negative integer, got ${String(value)}`);
  }
  const depth = (limits as CheckpointLimits).maxDepth;
  if (depth !== undefined && depth > largestMaxDepth) fail('bad-option', `limits.maxDepth must be at most ${largestMaxDepth}, got ${depth}`);
}

function checkNotLegacy(bytes: Uint8Array): void {
  if (bytes.length >= 2 && bytes[0] === 0x80 && bytes[1]! <= 5) {
    fail('unsupported-format', 'this is the legacy (pre-1.6, non-zip) torch.save format; re-save it with a current torch.save');
  }
  if (bytes.length >= 262 && String.fromCharCode(...bytes.subarray(257, 262)) === 'ustar') {
    fail('unsupported-format', 'this is the legacy tar torch.save format; re-save it with a current torch.save');
  }
}

function findArchive(entries: Map<string, ZipEntry>): string {
  const archives: string[] = [];
  for (const name of entries.keys()) {
    const match = /^([^/]+)\/data\.pkl$/.exec(name);
    if (match) archives.push(match[1]!);
  }
  if (archives.length === 0) {
    const names = [...entries.keys()].slice(0, 8).join(', ');
    fail('missing-entry', `the zip holds no '<archive>/data.pkl' entry, so it is not a torch.save checkpoint (entries: ${names})`);
  }
  if (archives.length > 1) fail('bad-zip', `the zip holds several data.pkl archives (${archives.join(', ')})`);
  return archives[0]!;
}

function hostIsLittleEndian(): boolean {
  return new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
}

function swapBytes(bytes: Uint8Array, width: number): void {
  for (let at = 0; at < bytes.length; at += width) {
    for (let i = 0, j = width - 1; i < j; i++, j--) {
      const t = bytes[at + i]!;
      bytes[at + i] = bytes[at + j]!;
      bytes[at + j] = t;
    }
  }
}

function shapeText(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}

class Materializer {
  private readonly storageBytes = new Map<string, Uint8Array>();
  private readonly done = new Map<PyTensor, CheckpointTensor>();
  private readonly swap: boolean;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly entries: Map<string, ZipEntry>,
    private readonly archive: string,
    private readonly verifyCrc: boolean,
    byteOrder: 'little' | 'big',
    private readonly budget: Budget,
  ) {
    this.swap = (byteOrder === 'little') !== hostIsLittleEndian();
  }

  private storage(storage: PyStorage, name: string): Uint8Array {
    const cached = this.storageBytes.get(storage.key);
    if (cached) return cached;
    const entryName = `${this.archive}/data/${storage.key}`;
    const entry = this.entries.get(entryName);
    if (!entry) fail('missing-storage', `tensor '${name}' refers to storage '${storage.key}', but the zip has no entry '${entryName}'`);
    const data = readZipEntry(this.bytes, entry, this.verifyCrc);
    const needed = storage.numel * safetensorsDtypeBytes[storage.dtype];
    if (data.length < needed) {
      fail(
        'bad-storage',
        `storage '${storage.key}' declares ${storage.numel} ${storage.dtype} elements (${needed} bytes), its entry holds ${data.length} bytes`,
      );
    }
    this.storageBytes.set(storage.key, data);
    return data;
  }

  tensor(tensor: PyTensor, name: string): CheckpointTensor {
    const known = this.done.get(tensor);
    if (known) return known;
    const { storage, shape, stride, offset } = tensor;
    const dtype: CheckpointDtype = storage.dtype;
    const width = safetensorsDtypeBytes[dtype];
    let count = 1;
    for (const size of shape) {
      count *= size;
      if (count > maxTensorElements) fail('too-large', `tensor '${name}' of shape ${shapeText(shape)} exceeds ${maxTensorElements} elements`);
    }
    // A view can only hold more elements than its storage by repeating them (stride 0, as from
    // expand()); cap those so a few bytes of pickle cannot demand gigabytes of memory.
    if (count > storage.numel && count * width > maxExpandedBytes) {
      fail(
        'too-large',
        `tensor '${name}' of shape ${shapeText(shape)} repeats the ${storage.numel} elements of storage '${storage.key}' ` +
          `into ${count * width} bytes, more than the ${maxExpandedBytes} accepted for expanded views`,
      );
    }
    if (count > 0) {
      // The furthest element the view touches must lie inside the declared storage.
      let last = offset;
      for (let d = 0; d < shape.length; d++) last += (shape[d]! - 1) * stride[d]!;
      if (!Number.isSafeInteger(last) || last >= storage.numel) {
        fail(
          'bad-tensor',
          `tensor '${name}' (size ${shapeText(shape)}, stride ${shapeText(stride)}, offset ${offset}) reaches element ${last} ` +
            `of storage '${storage.key}', which holds ${storage.numel}`,
        );
      }
    }
    this.budget.spendBytes(count * width, name);
    const source = count > 0 ? this.storage(storage, name) : new Uint8Array(0);
    const out = this.gather(source, shape, stride, offset, count, width);
    if (this.swap && width > 1) swapBytes(out, width);
    const result: CheckpointTensor = { dtype, shape: [...shape], data: typedArrayFromBuffer(dtype, out.buffer as ArrayBuffer) };
    this.done.set(tensor, result);
    return result;
  }

  private gather(source: Uint8Array, shape: readonly number[], stride: readonly number[], offset: number, count: number, width: number): Uint8Array {
    let contiguous = true;
    let expected = 1;
    for (let d = shape.length - 1; d >= 0; d--) {
      if (shape[d] !== 1 && stride[d] !== expected) contiguous = false;
      expected *= shape[d]!;
    }
    if (contiguous || count === 0) return source.slice(offset * width, (offset + count) * width);
    // Views with other strides (transposes, slices, expands) are copied element by element in
    // C order, so the result always matches `tensor.contiguous()` in PyTorch. Elements move as
    // 1/2/4-byte words (8-byte ones as two 4-byte words) so float bit patterns, NaN payloads
    // included, are copied untouched.
    const wordBytes = Math.min(width, 4);
    const wordsPerElement = width / wordBytes;
    const aligned = source.byteOffset % wordBytes === 0 ? source : source.slice();
    const out = new Uint8Array(count * width);
    const from = words(aligned, wordBytes);
    const to = words(out, wordBytes);
    const rank = shape.length;
    const index = new Array<number>(rank).fill(0);
    const innerSize = shape[rank - 1]!;
    const innerStride = stride[rank - 1]! * wordsPerElement;
    let base = offset;
    let target = 0;
    for (let written = 0; written < count; written += innerSize) {
      let at = base * wordsPerElement;
      if (wordsPerElement === 1) {
        for (let i = 0; i < innerSize; i++, at += innerStride) to[target++] = from[at]!;
      } else {
        for (let i = 0; i < innerSize; i++, at += innerStride) {
          to[target++] = from[at]!;
          to[target++] = from[at + 1]!;
        }
      }
      for (let d = rank - 2; d >= 0; d--) {
        index[d]!++;
        base += stride[d]!;
        if (index[d]! < shape[d]!) break;
        base -= stride[d]! * shape[d]!;
        index[d] = 0;
      }
    }
    return out;
  }
}

function words(bytes: Uint8Array, wordBytes: number): Uint8Array | Uint16Array | Uint32Array {
  const length = Math.floor(bytes.byteLength / wordBytes);
  if (wordBytes === 4) return new Uint32Array(bytes.buffer, bytes.byteOffset, length);
  if (wordBytes === 2) return new Uint16Array(bytes.buffer, bytes.byteOffset, length);
  return bytes;
}

/** The text of a dict key; tuple keys are walked within the budget (a deep or shared key cannot blow up). */
function keyText(key: PyValue, budget: Budget, depth = 0): string {
  if (typeof key === 'string') return key;
  if (typeof key === 'number' || typeof key === 'bigint' || typeof key === 'boolean') return String(key);
  if (key === null) return 'None';
  if (key instanceof PyTuple) {
    budget.depth(depth, 'a dict key');
    budget.visit('a dict key');
    return `(${key.items.map((item) => keyText(item, budget, depth + 1)).join(', ')})`;
  }
  return fail('bad-pickle', 'dict keys must be str, int, bool, None or tuples of those');
}

/**
 * Converts pickle values to plain data. Each container is converted once: an object the pickle
 * shares (through its memo) comes back as the same converted value wherever it appears, so
 * sharing costs nothing, and a cycle is an error.
 */
class Converter {
  private readonly open = new Set<object>();
  private readonly converted = new Map<object, CheckpointValue>();
  constructor(
    private readonly materializer: Materializer,
    private readonly budget: Budget,
  ) {}

  value(value: PyValue, path: string, depth = 0): CheckpointValue {
    if (value === null || typeof value !== 'object' || value instanceof Uint8Array) return value;
    if (value instanceof PyTensor) return this.materializer.tensor(value, path);
    if (value instanceof PyGlobal) return value.qualifiedName;
    if (value instanceof PyStorage) return { storage: value.key, dtype: value.dtype, numel: value.numel };
    const known = this.converted.get(value);
    if (known !== undefined) return known;
    if (this.open.has(value)) fail('bad-pickle', `'${path}' contains itself`);
    this.budget.depth(depth, `'${path}'`);
    this.budget.visit(path);
    this.open.add(value);
    try {
      const result = this.container(value, path, depth);
      this.converted.set(value, result);
      return result;
    } finally {
      this.open.delete(value);
    }
  }

  private container(value: PyList | PyTuple | PySet | PyObject | PyDict, path: string, depth: number): CheckpointValue {
    if (value instanceof PyList || value instanceof PyTuple || value instanceof PySet) {
      return value.items.map((item, i) => this.value(item, `${path}[${i}]`, depth + 1));
    }
    if (value instanceof PyObject) {
      if (value.opaqueArgs === null) return value.state === null ? {} : this.value(value.state, path, depth + 1);
      return {
        __class__: value.className,
        args: value.opaqueArgs.map((item, i) => this.value(item, `${path}.args[${i}]`, depth + 1)),
        state: this.value(value.state, `${path}.state`, depth + 1),
      };
    }
    const entries: [string, CheckpointValue][] = [];
    for (const [key, item] of value.items) {
      const name = keyText(key, this.budget);
      entries.push([name, this.value(item, path === '' ? name : `${path}.${name}`, depth + 1)]);
    }
    // fromEntries defines own properties, so a key such as '__proto__' cannot reach a prototype.
    return Object.fromEntries(entries);
  }
}

/** Whether a dict holds a tensor at any depth; each dict is looked at once, however often it is shared. */
function holdsTensors(dict: PyDict, budget: Budget, seen = new Set<PyDict>(), depth = 0): boolean {
  if (depth > budget.maxDepth || seen.has(dict)) return false;
  seen.add(dict);
  budget.visit('the top-level dict');
  for (const value of dict.items.values()) {
    if (value instanceof PyTensor) return true;
    if (value instanceof PyDict && holdsTensors(value, budget, seen, depth + 1)) return true;
  }
  return false;
}

function topLevelKeys(root: PyDict, budget: Budget): string {
  return [...root.items.keys()].slice(0, 32).map((k) => (typeof k === 'string' ? `'${k}'` : keyText(k, budget))).join(', ');
}

function pickStateDict(root: PyDict, key: string | null | undefined, budget: Budget): [PyDict, string | null] {
  if (key === null) return [root, null];
  const wanted = key ?? 'state_dict';
  if (root.items.has(wanted)) {
    const dict = root.items.get(wanted)!;
    if (!(dict instanceof PyDict)) fail('no-state-dict', `top-level entry '${wanted}' must be a dict of tensors, got another kind of value`);
    return [dict, wanted];
  }
  if (key !== undefined) fail('no-state-dict', `the checkpoint has no top-level entry '${key}' (keys: ${topLevelKeys(root, budget)})`);
  if (holdsTensors(root, budget)) return [root, null];
  return fail('no-state-dict', `the checkpoint has no 'state_dict' entry and its top-level dict holds no tensors (keys: ${topLevelKeys(root, budget)})`);
}

/**
 * Read a PyTorch checkpoint written by `torch.save` (zip format, torch ≥ 1.6), such as a
 * PyTorch Lightning `.ckpt` or a `.pt`/`.pth` state dict, without running any of its pickle.
 *
 * The pickle is interpreted by a restricted unpickler: only the globals a tensor state dict and
 * Lightning's metadata need are accepted (see `allowedGlobals()`), and nothing is ever called.
 * Tensors come back as C-order copies (strided views are gathered) in host byte order.
 *
 * @param bytes the whole checkpoint file.
 * @throws CheckpointError on any malformed, truncated, compressed, unsafe or unsupported input.
 */
export function readTorchCheckpoint(bytes: Uint8Array | ArrayBuffer, options: ReadTorchCheckpointOptions = {}): TorchCheckpoint {
  try {
    return read(bytes, options);
  } catch (error) {
      if (error instanceof CheckpointError) throw error;
    if (error instanceof RangeError && /call stack/i.test(error.message)) {
      throw new CheckpointError('too-large', `readTorchCheckpoint: limits.maxDepth: the checkpoint is nested deeper than the JavaScript stack allows (lower limits.maxDepth)`);
    }
    // Every read is bounds-checked; this only keeps an unforeseen malformation typed.
    throw new CheckpointError('malformed', `readTorchCheckpoint: malformed checkpoint (${(error as Error).message})`);
  }
}

function read(source: Uint8Array | ArrayBuffer, options: ReadTorchCheckpointOptions): TorchCheckpoint {
  checkOptions(options);
  const bytes = toBytes(source);
  checkNotLegacy(bytes);
  const budget = new Budget(options.limits ?? {}, bytes.byteLength);
  const verifyCrc = options.verifyCrc ?? true;
  const entries = readZipDirectory(bytes);
  const archive = findArchive(entries);
  let byteOrder: 'little' | 'big' = 'little';
  const byteOrderEntry = entries.get(`${archive}/byteorder`);
  if (byteOrderEntry) {
    const text = new TextDecoder().decode(readZipEntry(bytes, byteOrderEntry, verifyCrc)).trim();
    if (text !== 'little' && text !== 'big') fail('bad-zip', `'${archive}/byteorder' must say 'little' or 'big', got '${text.slice(0, 32)}'`);
    byteOrder = text;
  }
  const root = unpickle(readZipEntry(bytes, entries.get(`${archive}/data.pkl`)!, verifyCrc), new Set(options.inertGlobals ?? []));
  if (!(root instanceof PyDict)) fail('no-state-dict', 'the checkpoint\'s top-level object must be a dict');
  const [stateDict, stateDictKey] = pickStateDict(root, options.key, budget);
  const materializer = new Materializer(bytes, entries, archive, verifyCrc, byteOrder, budget);
  const converter = new Converter(materializer, budget);
  const tensors = new Map<string, CheckpointTensor>();
  const extras = new Map<string, CheckpointValue>();
  const open = new Set<PyDict>();
  const flatten = (dict: PyDict, prefix: string, depth: number): void => {
    budget.depth(depth, 'the state dict');
    // Flattened names differ per path, so a shared dict is walked once per name, within maxObjects.
    if (open.has(dict)) fail('bad-pickle', `state dict entry '${prefix.slice(0, -1)}' contains itself`);
    open.add(dict);
    for (const [key, value] of dict.items) {
      const name = prefix + keyText(key, budget);
      budget.visit(name);
      if (tensors.has(name) || extras.has(name)) fail('bad-pickle', `state dict name '${name}' occurs twice after flattening`);
      if (value instanceof PyTensor) tensors.set(name, materializer.tensor(value, name));
      else if (value instanceof PyDict) flatten(value, `${name}.`, depth + 1);
      else extras.set(name, converter.value(value, name));
    }
    open.delete(dict);
  };
  flatten(stateDict, '', 0);
  const metadata: [string, CheckpointValue][] = [];
  const skipped: string[] = [];
  if (stateDictKey !== null) {
    const skipKeys = options.skipKeys ?? defaultSkipKeys;
    for (const [key, value] of root.items) {
      const name = keyText(key, budget);
      if (name === stateDictKey) continue;
      if (skipKeys.includes(name)) skipped.push(name);
      else metadata.push([name, converter.value(value, name)]);
    }
  }
  return { tensors, extras, metadata: Object.fromEntries(metadata), skipped, stateDictKey, archiveName: archive, byteOrder };
}
