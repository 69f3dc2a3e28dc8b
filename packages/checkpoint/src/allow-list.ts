import { storageDtypes } from './dtypes.js';
import type { GlobalKind } from './values.js';

/*
 * The only globals a checkpoint pickle may name. Each maps to an interpretation inside the
 * unpickler (see pickle.ts); none is ever looked up as a real function. Everything Lightning
 * keeps next to a state dict (epoch, global_step, hyper_parameters, optimizer and scheduler
 * state) is plain data built from these, so a legitimate checkpoint needs nothing else.
 */

const torchDtypeNames = [
  'float64', 'double', 'float32', 'float', 'float16', 'half', 'bfloat16',
  'int64', 'long', 'int32', 'int', 'int16', 'short', 'int8', 'uint8', 'bool',
];

function buildAllowList(): Map<string, GlobalKind> {
  const allowed = new Map<string, GlobalKind>([
    ['collections.OrderedDict', 'dict-class'],
    // Lightning's `hyper_parameters` container: a dict subclass with attribute access.
    ['pytorch_lightning.utilities.parsing.AttributeDict', 'dict-class'],
    ['lightning.fabric.utilities.data.AttributeDict', 'dict-class'],
    ['lightning_fabric.utilities.data.AttributeDict', 'dict-class'],
    ['argparse.Namespace', 'object-class'],
    ['torch._utils._rebuild_tensor', 'rebuild-tensor'],
    ['torch._utils._rebuild_tensor_v2', 'rebuild-tensor-v2'],
    ['torch._utils._rebuild_parameter', 'rebuild-parameter'],
    ['torch._utils._rebuild_parameter_with_state', 'rebuild-parameter-with-state'],
    ['torch._tensor._rebuild_from_type_v2', 'rebuild-from-type-v2'],
    ['torch.Tensor', 'tensor-class'],
    ['torch.nn.parameter.Parameter', 'tensor-class'],
    ['torch.Size', 'torch-size'],
    ['torch.device', 'torch-device'],
    // Protocol 2 spells bytes as _codecs.encode(text, 'latin1') and empty bytes as bytes().
    ['_codecs.encode', 'codecs-encode'],
  ]);
  // Python 3 writes builtins as `__builtin__` in protocol 2 (fix_imports), so accept both.
  for (const module of ['builtins', '__builtin__']) {
    allowed.set(`${module}.set`, 'set');
    allowed.set(`${module}.frozenset`, 'frozenset');
    allowed.set(`${module}.bytes`, 'bytes');
  }
  for (const name of Object.keys(storageDtypes)) allowed.set(`torch.${name}`, 'storage');
  for (const name of torchDtypeNames) allowed.set(`torch.${name}`, 'dtype');
  return allowed;
}

let allowList: Map<string, GlobalKind> | undefined;

/** The interpretation of an allow-listed global `module.name`, or undefined when it is not allowed. */
export function allowedGlobalKind(qualifiedName: string): GlobalKind | undefined {
  allowList ??= buildAllowList();
  return allowList.get(qualifiedName);
}

/** Every global `readTorchCheckpoint` accepts, as `module.name` (for documentation and audits). */
export function allowedGlobals(): string[] {
  allowList ??= buildAllowList();
  return [...allowList.keys()];
}
