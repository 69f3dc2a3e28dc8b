import { describe, expect, it } from 'vitest';
import { allowedGlobals, readTorchCheckpoint, type CheckpointTensor } from '@gq/checkpoint';
import { checkpointDtypes } from '@gq/checkpoint/internal';
import { seededRandom } from '@gq/test-utils';
import { PickleWriter, float32Bytes, torchArchive } from './builders.js';

function bytesOf(array: ArrayBufferView): Uint8Array {
  return new Uint8Array(array.buffer, array.byteOffset, array.byteLength).slice();
}

function bigEndian(array: ArrayBufferView & { BYTES_PER_ELEMENT: number }): Uint8Array {
  const out = bytesOf(array);
  const width = array.BYTES_PER_ELEMENT;
  for (let at = 0; at < out.length; at += width) out.subarray(at, at + width).reverse();
  return out;
}

describe('readTorchCheckpoint on a synthetic Lightning checkpoint', () => {
  const random = seededRandom(7);
  const weights = Float32Array.from({ length: 6 }, () => random() * 2 - 1);
  const doubles = Float64Array.from([Math.PI, -Math.E, 1e-300, Number.MAX_VALUE]);
  const halves = Uint16Array.from([0x3c00, 0xc000, 0x7bff]);
  const bfloats = Uint16Array.from([0x3f80, 0x4049]);
  const longs = BigInt64Array.from([-(2n ** 62n), 123456789012345n]);
  const ints = Int32Array.from([-2147483648, 7]);
  const shorts = Int16Array.from([-32768, 32767]);
  const chars = Int8Array.from([-128, 127]);
  const uchars = Uint8Array.from([0, 255]);
  const bools = Uint8Array.from([1, 0, 1]);
  const storages: Record<string, Uint8Array> = {
    w: bytesOf(weights), d: bytesOf(doubles), h: bytesOf(halves), b: bytesOf(bfloats), l: bytesOf(longs),
    i: bytesOf(ints), s: bytesOf(shorts), c: bytesOf(chars), u: bytesOf(uchars), o: bytesOf(bools),
  };
  const tensorSpecs: [string, string, string, number[], number][] = [
    ['F32', 'FloatStorage', 'w', [2, 3], 6], ['F64', 'DoubleStorage', 'd', [4], 4], ['F16', 'HalfStorage', 'h', [3], 3],
    ['BF16', 'BFloat16Storage', 'b', [2], 2], ['I64', 'LongStorage', 'l', [2], 2], ['I32', 'IntStorage', 'i', [2], 2],
    ['I16', 'ShortStorage', 's', [2], 2], ['I8', 'CharStorage', 'c', [2], 2], ['U8', 'ByteStorage', 'u', [2], 2],
    ['BOOL', 'BoolStorage', 'o', [3], 3],
  ];

  function build(byteOrder = 'little'): Uint8Array {
    const p = new PickleWriter().proto(2).emptyDict().put(0).mark();
    p.str('epoch').int(3);
    p.str('global_step').int(2n ** 40n);
    p.str('pytorch-lightning_version').str('2.4.0');
    p.str('state_dict').global('collections', 'OrderedDict').emptyTuple().reduce().put(1).mark();
    for (const [dtype, type, key, shape, numel] of tensorSpecs) {
      const stride = shape.length === 2 ? [shape[1]!, 1] : [1];
      p.str(`model.${dtype.toLowerCase()}`).tensor({ type, key, numel }, 0, shape, stride);
    }
    // nn.Parameter wrapper around the same F32 storage, and a nested dict to flatten.
    p.str('model.param').global('torch._utils', '_rebuild_parameter');
    p.tensor({ type: 'FloatStorage', key: 'w', numel: 6 }, 3, [3], [1]).bool(true).global('collections', 'OrderedDict').emptyTuple().reduce().tuple3().reduce();
    p.str('nested').emptyDict().str('inner').tensor({ type: 'FloatStorage', key: 'w', numel: 6 }, 1, [2], [2]).setitem();
    p.str('model.extra_state').float(0.25);
    p.setitems();
    // state_dict()'s _metadata, attached with BUILD as torch.save writes it.
    p.emptyDict().str('_metadata').emptyDict().str('').emptyDict().str('version').int(1).setitem().setitem().setitem().build();
    p.str('hyper_parameters').global('lightning.fabric.utilities.data', 'AttributeDict').emptyTuple().newobj().mark();
    p.str('lr').float(1e-4).str('betas').float(0.9).float(0.999).tuple2().str('tags').global('__builtin__', 'set').emptyList().mark().str('gq').appends().tuple1().reduce();
    p.str('blob').global('_codecs', 'encode').str('ab\u00ff').str('latin1').tuple2().reduce();
    p.str('empty').global('__builtin__', 'bytes').emptyTuple().reduce();
    p.str('dtype').global('torch', 'bfloat16');
    p.str('args').global('argparse', 'Namespace').emptyTuple().newobj().emptyDict().str('seed').int(-5).setitem().build();
    p.setitems();
    p.str('optimizer_states').emptyList().emptyDict().str('state').emptyDict().int(0).emptyDict().str('exp_avg');
    p.tensor({ type: 'FloatStorage', key: 'adam', numel: 6 }, 0, [6], [1]).setitem().setitem().setitem().append();
    p.str('lr_schedulers').emptyList();
    p.setitems().stop();
    const data = byteOrder === 'big'
      ? { ...storages, w: bigEndian(weights), d: bigEndian(doubles), h: bigEndian(halves), b: bigEndian(bfloats), l: bigEndian(longs), i: bigEndian(ints), s: bigEndian(shorts) }
      : storages;
    // 'adam' has no entry on purpose: skipped optimizer state is validated but never read.
    return torchArchive(p.bytes(), data, { byteOrder });
  }

  const expectedData: Record<string, ArrayLike<number | bigint>> = {
    F32: weights, F64: doubles, F16: halves, BF16: bfloats, I64: longs, I32: ints, I16: shorts, I8: chars, U8: uchars, BOOL: bools,
  };

  function checkAll(tensors: Map<string, CheckpointTensor>): void {
    for (const [dtype, , , shape] of tensorSpecs) {
      const t = tensors.get(`model.${dtype.toLowerCase()}`)!;
      expect(t.dtype).toBe(dtype);
      expect(t.shape).toEqual(shape);
      expect(Array.from(t.data as ArrayLike<number | bigint>)).toEqual(Array.from(expectedData[dtype]!));
    }
    expect(tensors.get('model.f32')!.data).toBeInstanceOf(Float32Array);
    expect(tensors.get('model.f16')!.data).toBeInstanceOf(Uint16Array);
    expect(tensors.get('model.i64')!.data).toBeInstanceOf(BigInt64Array);
    expect(Array.from(tensors.get('model.param')!.data as Float32Array)).toEqual(Array.from(weights.subarray(3, 6)));
    expect(Array.from(tensors.get('nested.inner')!.data as Float32Array)).toEqual([weights[1], weights[3]]);
  }

  it('reads every safetensors dtype, parameters, offsets and nested dicts exactly', () => {
    const checkpoint = readTorchCheckpoint(build());
    checkAll(checkpoint.tensors);
    expect(new Set([...checkpoint.tensors.values()].map((t) => t.dtype))).toEqual(new Set(checkpointDtypes));
    expect([...checkpoint.extras]).toEqual([['model.extra_state', 0.25]]);
  });

  it('decodes big-endian archives to the same values', () => {
    const checkpoint = readTorchCheckpoint(build('big'));
    expect(checkpoint.byteOrder).toBe('big');
    checkAll(checkpoint.tensors);
  });

  it('exposes Lightning metadata as plain data and skips optimizer and scheduler state', () => {
    const checkpoint = readTorchCheckpoint(build());
    expect(checkpoint.stateDictKey).toBe('state_dict');
    expect(checkpoint.skipped).toEqual(['optimizer_states', 'lr_schedulers']);
    expect(checkpoint.metadata).toEqual({
      epoch: 3,
      global_step: 2 ** 40,
      'pytorch-lightning_version': '2.4.0',
      hyper_parameters: {
        lr: 1e-4, betas: [0.9, 0.999], tags: ['gq'], blob: Uint8Array.from([0x61, 0x62, 0xff]), empty: new Uint8Array(0),
        dtype: 'torch.bfloat16', args: { seed: -5 },
      },
    });
  });

  it('converts skipped entries when asked to and then needs their storages', () => {
    expect(() => readTorchCheckpoint(build(), { skipKeys: [] })).toThrowError(expect.objectContaining({ code: 'missing-storage' }));
  });
});

describe('readTorchCheckpoint layouts', () => {
  it('gathers transposed, sliced and expanded views as PyTorch .contiguous() would', () => {
    const storage = Float32Array.from({ length: 24 }, (_, i) => i * 0.5 - 3);
    const views: [string, number, number[], number[]][] = [
      ['transposed', 0, [4, 6], [1, 4]],
      ['sliced', 5, [2, 3, 2], [8, 2, 1]],
      ['expanded', 2, [3, 4], [0, 1]],
      ['scalar', 7, [], []],
      ['empty', 0, [0, 5], [5, 1]],
    ];
    const p = new PickleWriter().proto(2).emptyDict().mark();
    for (const [name, offset, shape, stride] of views) {
      p.str(name).tensor({ type: 'FloatStorage', key: '0', numel: 24 }, offset, shape, stride);
    }
    p.setitems().stop();
    const checkpoint = readTorchCheckpoint(torchArchive(p.bytes(), { 0: float32Bytes([...storage]) }));
    expect(checkpoint.stateDictKey).toBeNull();
    for (const [name, offset, shape, stride] of views) {
      // Oracle: element at multi-index (i0, i1, ...) is storage[offset + Σ i_d·stride_d], listed in C order.
      const expected: number[] = [];
      const count = shape.reduce((a, b) => a * b, 1);
      for (let flat = 0; flat < count; flat++) {
        let rest = flat;
        let at = offset;
        for (let d = shape.length - 1; d >= 0; d--) {
          at += (rest % shape[d]!) * stride[d]!;
          rest = Math.floor(rest / shape[d]!);
        }
        expected.push(storage[at]!);
      }
      const tensor = checkpoint.tensors.get(name)!;
      expect(tensor.shape).toEqual(shape);
      expect(Array.from(tensor.data as Float32Array), name).toEqual(expected);
    }
  });

  it('gathers strided 1-, 2- and 8-byte elements bit-exactly from an unaligned input buffer', () => {
    const doubles = Float64Array.from({ length: 12 }, (_, i) => (i - 5) / 3);
    // A NaN with a payload: copying through a JS number could canonicalise it.
    new DataView(doubles.buffer).setBigUint64(8 * 11, 0x7ff4000000000001n, true);
    const halves = Uint16Array.from({ length: 12 }, (_, i) => 0x3c00 + i);
    const bytes = Uint8Array.from({ length: 12 }, (_, i) => 200 + i);
    const specs = [['F64', 'DoubleStorage', 'd', doubles], ['F16', 'HalfStorage', 'h', halves], ['U8', 'ByteStorage', 'u', bytes]] as const;
    const p = new PickleWriter().proto(2).emptyDict().mark();
    for (const [dtype, type, key] of specs) p.str(dtype).tensor({ type, key, numel: 12 }, 0, [4, 3], [1, 4]);
    p.setitems().stop();
    const zip = torchArchive(p.bytes(), {
      d: new Uint8Array(doubles.buffer.slice(0)), h: new Uint8Array(halves.buffer.slice(0)), u: bytes.slice(),
    });
    const padded = new Uint8Array(zip.length + 1);
    padded.set(zip, 1);
    const checkpoint = readTorchCheckpoint(padded.subarray(1));
    for (const [dtype, , , source] of specs) {
      const expected: (number | bigint)[] = [];
      for (let i = 0; i < 4; i++) for (let j = 0; j < 3; j++) expected.push(i + 4 * j);
      const tensor = checkpoint.tensors.get(dtype)!;
      if (dtype === 'F64') {
        const bits = new BigUint64Array((tensor.data as Float64Array).buffer);
        const sourceBits = new BigUint64Array(doubles.buffer);
        expect(Array.from(bits)).toEqual(expected.map((k) => sourceBits[Number(k)]));
      } else {
        expect(Array.from(tensor.data as ArrayLike<number>), dtype).toEqual(expected.map((k) => source[Number(k)]));
      }
    }
  });

  it('reads ZIP64 archives, protocol-4 opcodes and a custom key', () => {
    const p = new PickleWriter().proto(4).frame(0).emptyDict().memoize().mark();
    p.shortStr('model').stackGlobal('collections', 'OrderedDict').memoize().emptyTuple().reduce().memoize();
    p.shortStr('w').stackGlobal('torch._utils', '_rebuild_tensor_v2').memoize().mark();
    p.mark().shortStr('storage').stackGlobal('torch', 'FloatStorage').shortStr('k').shortStr('cpu').int(2).tuple().binpersid();
    p.int(0).int(2).tuple1().int(1).tuple1().bool(false).get(1).emptyTuple().reduce().tuple().reduce().setitem();
    p.shortStr('other').none().setitems().stop();
    const zip = torchArchive(p.bytes(), { k: float32Bytes([1.5, -2]) }, { zip64: true, archive: 'weights' });
    const checkpoint = readTorchCheckpoint(zip, { key: 'model' });
    expect(checkpoint.archiveName).toBe('weights');
    expect(checkpoint.stateDictKey).toBe('model');
    expect(Array.from(checkpoint.tensors.get('w')!.data as Float32Array)).toEqual([1.5, -2]);
    expect(checkpoint.metadata).toEqual({ other: null });
  });

  it('lists an allow-list that holds the tensor rebuild functions and no code-running names', () => {
    const globals = allowedGlobals();
    expect(globals).toContain('torch._utils._rebuild_tensor_v2');
    expect(globals).toContain('collections.OrderedDict');
    for (const bad of ['os.system', 'builtins.eval', '__builtin__.eval', 'subprocess.Popen', 'builtins.getattr', 'torch.load']) {
      expect(globals).not.toContain(bad);
    }
  });
});
