import type { CheckpointDtype } from './dtypes.js';

/*
 * Inert stand-ins for the Python objects a checkpoint pickle describes. The unpickler builds
 * these instead of calling anything: a "call" to an allow-listed global only ever produces one of
 * these data records.
 */

export type PyValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | PyList
  | PyTuple
  | PyDict
  | PySet
  | PyObject
  | PyGlobal
  | PyStorage
  | PyTensor;

export class PyList {
  constructor(readonly items: PyValue[] = []) {}
}

export class PyTuple {
  constructor(readonly items: readonly PyValue[]) {}
}

/** dict, OrderedDict or a dict subclass; `attributes` holds what BUILD set (e.g. a state dict's `_metadata`). */
export class PyDict {
  readonly items = new Map<PyValue, PyValue>();
  attributes: PyValue = null;
  constructor(readonly className: string = 'builtins.dict') {}
}

export class PySet {
  constructor(readonly items: PyValue[], readonly frozen: boolean) {}
}

/**
 * An instance of an allow-listed plain-data class (e.g. argparse.Namespace), or an opaque record
 * of a global the caller declared inert: its class name, constructor arguments and state, kept as
 * data and never constructed.
 */
export class PyObject {
  state: PyValue = null;
  constructor(
    readonly className: string,
    readonly opaqueArgs: readonly PyValue[] | null = null,
  ) {}
}

/** What an allow-listed global stands for; decides what REDUCE/NEWOBJ on it may produce. */
export type GlobalKind =
  | 'dict-class'
  | 'object-class'
  | 'inert'
  | 'rebuild-tensor'
  | 'rebuild-tensor-v2'
  | 'rebuild-parameter'
  | 'rebuild-parameter-with-state'
  | 'rebuild-from-type-v2'
  | 'tensor-class'
  | 'storage'
  | 'dtype'
  | 'set'
  | 'frozenset'
  | 'bytes'
  | 'codecs-encode'
  | 'torch-size'
  | 'torch-device';

export class PyGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
    readonly kind: GlobalKind,
  ) {}
  get qualifiedName(): string {
    return `${this.module}.${this.name}`;
  }
}

/** A storage named by a persistent id: the zip entry `data/<key>` holding `numel` elements. */
export class PyStorage {
  constructor(
    readonly key: string,
    readonly dtype: CheckpointDtype,
    readonly numel: number,
    readonly location: string,
  ) {}
}

/** A tensor view of a storage (sizes, strides and offset in elements), not yet read. */
export class PyTensor {
  constructor(
    readonly storage: PyStorage,
    readonly offset: number,
    readonly shape: readonly number[],
    readonly stride: readonly number[],
  ) {}
}
