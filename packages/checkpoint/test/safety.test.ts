import { afterEach, describe, expect, it } from 'vitest';
import { CheckpointError, readTorchCheckpoint, type CheckpointErrorCode } from '@gq/checkpoint';
import { readFixtureBytes, seededRandom } from '@gq/test-utils';
import { PickleWriter, buildZip, errorOf, float32Bytes, simpleCheckpoint, torchArchive } from './builders.js';

/** A flag that any code run by a hostile pickle would flip; nothing in the reader can reach it. */
const pwnedKey = '__gqCheckpointPwned';
const scope = globalThis as Record<string, unknown>;

function expectCode(bytes: Uint8Array, code: CheckpointErrorCode, message?: RegExp, options = {}): CheckpointError {
  const error = errorOf(() => readTorchCheckpoint(bytes, options));
  expect(error.code, error.message).toBe(code);
  expect(error.message).toMatch(/^readTorchCheckpoint: /);
  if (message) expect(error.message).toMatch(message);
  return error;
}

/** `{'state_dict': <payload>}` where the payload is written by `body`. */
function payload(body: (p: PickleWriter) => void, storages: Record<string, Uint8Array> = {}): Uint8Array {
  const p = new PickleWriter().proto(2).emptyDict().str('state_dict');
  body(p);
  p.setitem().stop();
  return torchArchive(p.bytes(), storages);
}

/** A state dict with one F32 tensor whose storage and view are given. */
function oneTensor(numel: number | bigint, offset: number, size: (number | bigint)[], stride: number[], data = float32Bytes([1, 2, 3, 4]), key = '0'): Uint8Array {
  return payload((p) => p.emptyDict().str('w').tensor({ type: 'FloatStorage', key, numel }, offset, size, stride).setitem(), { 0: data });
}

function fixtureEntries(): { pickle: Uint8Array; storages: Record<string, Uint8Array> } {
  // Walk the fixture's central directory independently of the package's reader (torch leaves the
  // sizes in its local headers at 0 and writes them to data descriptors and the directory).
  const bytes = readFixtureBytes('vit-tiny', 'model.ckpt');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const eocd = bytes.length - 22;
  const storages: Record<string, Uint8Array> = {};
  let pickle = new Uint8Array(0);
  let at = view.getUint32(eocd + 16, true);
  for (let i = 0; i < view.getUint16(eocd + 10, true); i++) {
    const size = view.getUint32(at + 24, true);
    const nameLength = view.getUint16(at + 28, true);
    const name = new TextDecoder().decode(bytes.subarray(at + 46, at + 46 + nameLength));
    const local = view.getUint32(at + 42, true);
    const start = local + 30 + view.getUint16(local + 26, true) + view.getUint16(local + 28, true);
    const data = bytes.slice(start, start + size);
    if (name === 'model/data.pkl') pickle = data;
    const match = /^model\/data\/(\d+)$/.exec(name);
    if (match) storages[match[1]!] = data;
    at += 46 + nameLength + view.getUint16(at + 30, true) + view.getUint16(at + 32, true);
  }
  return { pickle, storages };
}

afterEach(() => {
  expect(scope[pwnedKey]).toBeUndefined();
});

describe('readTorchCheckpoint refuses code-executing pickles', () => {
  const calls: [string, string, (p: PickleWriter, module: string, name: string) => void][] = [
    ['os', 'system', (p, m, n) => p.global(m, n).str(`node -e "globalThis.${pwnedKey}=1"`).tuple1().reduce()],
    ['builtins', 'eval', (p, m, n) => p.global(m, n).str(`globalThis.${pwnedKey} = 1`).tuple1().reduce()],
    ['__builtin__', 'eval', (p, m, n) => p.global(m, n).str('1').tuple1().reduce()],
    ['subprocess', 'Popen', (p, m, n) => p.global(m, n).str('sh').tuple1().reduce()],
    ['builtins', 'getattr', (p, m, n) => p.global(m, n).global('collections', 'OrderedDict').str('fromkeys').tuple2().reduce()],
    ['os', 'system', (p, m, n) => p.stackGlobal(m, n).str('id').tuple1().reduce()],
    ['builtins', 'exec', (p, m, n) => p.stackGlobal(m, n).str('1').tuple1().reduce()],
    ['torch', 'load', (p, m, n) => p.global(m, n).str('x.pt').tuple1().reduce()],
  ];
  for (const [module, name, write] of calls) {
    it(`rejects ${module}.${name} (${write.toString().includes('stackGlobal') ? 'STACK_GLOBAL' : 'GLOBAL'} + REDUCE)`, () => {
      expectCode(payload((p) => write(p, module, name)), 'forbidden-global', new RegExp(`${module}\\.${name} is not on the allow-list`));
    });
  }

  it('rejects a forbidden global hidden in metadata next to a valid state dict', () => {
    const p = new PickleWriter().proto(2).emptyDict().mark().str('state_dict').emptyDict();
    p.str('hyper_parameters').global('os', 'system').str('id').tuple1().reduce().setitems().stop();
    expectCode(torchArchive(p.bytes()), 'forbidden-global', /os\.system/);
  });

  it('rejects INST, OBJ, NEWOBJ_EX, EXT1 and text PERSID opcodes', () => {
    const enc = new TextEncoder();
    const inst = new PickleWriter().proto(2).mark().str('id').raw(0x69).rawBytes(enc.encode('os\nsystem\n')).stop();
    const obj = new PickleWriter().proto(2).mark().global('collections', 'OrderedDict').raw(0x6f).stop();
    const newobjEx = new PickleWriter().proto(4).global('collections', 'OrderedDict').emptyTuple().emptyDict().raw(0x92).stop();
    const ext = new PickleWriter().proto(2).raw(0x82, 1).stop();
    const persid = new PickleWriter().proto(2).raw(0x50).rawBytes(enc.encode('0\n')).stop();
    for (const [name, p] of [['INST', inst], ['OBJ', obj], ['NEWOBJ_EX', newobjEx], ['EXT1', ext], ['PERSID', persid]] as const) {
      expectCode(torchArchive(p.bytes()), 'forbidden-opcode', new RegExp(`opcode ${name} `));
    }
  });

  it('rejects calls and construction through allow-listed names that are not constructors', () => {
    const cases: [(p: PickleWriter) => void, RegExp][] = [
      [(p) => p.global('torch', 'float32').emptyTuple().reduce(), /torch\.float32 may appear as a value but not be called/],
      [(p) => p.str('os.system').emptyTuple().reduce(), /REDUCE .* needs an allow-listed global, got str/],
      [(p) => p.global('torch', 'FloatStorage').emptyTuple().newobj(), /NEWOBJ may only create allow-listed plain-data classes/],
      [(p) => p.emptyList().emptyDict().build(), /BUILD may only set the state/],
      [
        (p) => p.global('torch._tensor', '_rebuild_from_type_v2').mark().global('collections', 'OrderedDict').global('torch', 'Tensor').emptyTuple().emptyDict().tuple().reduce(),
        /rebuild function must be an allow-listed tensor rebuild/,
      ],
    ];
    for (const [write, message] of cases) expectCode(payload(write), 'forbidden-call', message);
  });

  it('accepts globals listed in inertGlobals only as opaque data, never calling them', () => {
    // A numpy scalar as Lightning callbacks sometimes store it: scalar(dtype('f8', False, True) + BUILD, raw bytes).
    const write = (p: PickleWriter): void => {
      p.global('numpy.core.multiarray', 'scalar').global('numpy', 'dtype').str('f8').bool(false).bool(true).tuple3().reduce();
      p.mark().int(3).str('<').none().tuple().build();
      p.global('_codecs', 'encode').str('\u0000\u0000\u0000\u0000\u0000\u0000\u00f0?').str('latin1').tuple2().reduce().tuple2().reduce();
    };
    const p = new PickleWriter().proto(2).emptyDict().mark().str('state_dict').emptyDict().str('best_score');
    write(p);
    p.str('hook').global('os', 'system').str('touch /tmp/pwned').tuple1().reduce().setitems().stop();
    const zip = torchArchive(p.bytes());
    expectCode(zip, 'forbidden-global', /numpy\.core\.multiarray\.scalar is not on the allow-list.*options\.inertGlobals/);
    const inertGlobals = ['numpy.core.multiarray.scalar', 'numpy.dtype', 'os.system'];
    const checkpoint = readTorchCheckpoint(zip, { inertGlobals });
    expect(checkpoint.metadata).toEqual({
      best_score: {
        __class__: 'numpy.core.multiarray.scalar',
        args: [{ __class__: 'numpy.dtype', args: ['f8', false, true], state: [3, '<', null] }, Uint8Array.from([0, 0, 0, 0, 0, 0, 0xf0, 0x3f])],
        state: null,
      },
      hook: { __class__: 'os.system', args: ['touch /tmp/pwned'], state: null },
    });
    // An inert global cannot pose as a storage type or a tensor rebuild.
    const fake = payload((p) => p.emptyDict().str('w').tensor({ type: 'FakeStorage', key: '0', numel: 1 }, 0, [1], [1]).setitem(), { 0: float32Bytes([1]) });
    expectCode(fake, 'unsupported-dtype', /torch\.FakeStorage/);
    const error = errorOf(() => readTorchCheckpoint(fake, { inertGlobals: ['torch.FakeStorage'] }));
    expect(error.code).toBe('bad-pickle');
    expect(error.message).toMatch(/storage type must be a torch\.\*Storage, got torch\.FakeStorage/);
    expectCode(zip, 'bad-option', /inertGlobals must be an array/, { inertGlobals: ['nodot'] });
  });

  it('rejects unknown opcodes and storage types it cannot decode', () => {
    expectCode(payload((p) => p.raw(0xff)), 'unknown-opcode', /opcode 0xff at byte \d+/);
    expectCode(payload((p) => p.raw(0x49)), 'unknown-opcode', /opcode 0x49/);
    expectCode(payload((p) => p.global('torch', 'ComplexFloatStorage')), 'unsupported-dtype', /torch\.ComplexFloatStorage/);
  });
});

describe('readTorchCheckpoint rejects truncated and corrupted files', () => {
  const fixture = readFixtureBytes('vit-tiny', 'model.ckpt');

  it('rejects the fixture cut at any of many lengths', () => {
    const random = seededRandom(11);
    const lengths = [0, 1, 21, 22, 100, fixture.length - 1, fixture.length - 22, ...Array.from({ length: 40 }, () => Math.floor(random() * fixture.length))];
    for (const length of lengths) {
      const error = errorOf(() => readTorchCheckpoint(fixture.subarray(0, length)));
      expect(['truncated', 'bad-zip'], `${length}: ${error.message}`).toContain(error.code);
    }
  });

  it('rejects the fixture pickle cut short anywhere, re-zipped with valid CRCs', () => {
    const { pickle, storages } = fixtureEntries();
    expect(readTorchCheckpoint(torchArchive(pickle, storages)).tensors.size).toBe(67);
    for (const length of [0, 1, 2, 50, 51, 187, 1000, 4000, pickle.length - 2, pickle.length - 1]) {
      expectCode(torchArchive(pickle.subarray(0, length), storages), 'truncated', /data\.pkl ends/);
    }
  });

  it('rejects a wrong central-directory offset in either end record', () => {
    const eocd = fixture.length - 22;
    const zip64Record = Number(new DataView(fixture.buffer, fixture.byteOffset).getBigUint64(eocd - 20 + 8, true));
    for (const [field, delta] of [[eocd + 16, -1], [eocd + 16, 1], [zip64Record + 48, 1], [zip64Record + 48, -46], [zip64Record + 48, 2 ** 30]] as const) {
      const bad = fixture.slice();
      const view = new DataView(bad.buffer);
      if (field === eocd + 16) view.setUint32(field, view.getUint32(field, true) + delta, true);
      else view.setBigUint64(field, view.getBigUint64(field, true) + BigInt(delta), true);
      const error = errorOf(() => readTorchCheckpoint(bad));
      expect(error.code, error.message).toBe('bad-zip');
    }
    for (const delta of [-1, 1, 46]) {
      const zip = simpleCheckpoint({ w: [1] });
      const view = new DataView(zip.buffer);
      view.setUint32(zip.length - 6, view.getUint32(zip.length - 6, true) + delta, true);
      expectCode(zip, 'bad-zip');
    }
  });

  it('rejects an entry that declares a huge size', () => {
    const zip = simpleCheckpoint({ w: [1, 2] });
    const view = new DataView(zip.buffer);
    const eocd = zip.length - 22;
    const directory = view.getUint32(eocd + 16, true);
    // First central record is data.pkl: set both sizes to 0xFFFFFFF0.
    view.setUint32(directory + 20, 0xfffffff0, true);
    view.setUint32(directory + 24, 0xfffffff0, true);
    expectCode(zip, 'truncated', /declares 4294967280 bytes/);
  });

  it('rejects a corrupted storage byte through its CRC, and reads it when CRC checks are off', () => {
    const zip = simpleCheckpoint({ w: [1, 2] });
    const at = zip.length - 1;
    const patched = zip.slice();
    // Locate the storage bytes of 1.0f (00 00 80 3f) and flip one bit of the exponent.
    const index = patched.findIndex((_, i) => patched[i] === 0 && patched[i + 1] === 0 && patched[i + 2] === 0x80 && patched[i + 3] === 0x3f);
    expect(index).toBeGreaterThan(0);
    expect(index).toBeLessThan(at);
    patched[index + 3] = 0x40;
    expectCode(patched, 'bad-crc', /entry 'archive\/data\/0' has CRC-32/);
    expect(Array.from(readTorchCheckpoint(patched, { verifyCrc: false }).tensors.get('w')!.data as Float32Array)).toEqual([4, 2]);
  });

  it('rejects bad storage offsets, sizes and strides', () => {
    expectCode(oneTensor(4, 1, [4], [1]), 'bad-tensor', /reaches element 4 of storage '0', which holds 4/);
    expectCode(oneTensor(4, 0, [2, 2], [3, 1]), 'bad-tensor', /reaches element 4/);
    expectCode(oneTensor(4, 0, [2, 3], [3]), 'bad-tensor', /size and stride must have equal lengths/);
    expectCode(oneTensor(4, 0, [4], [-1]), 'bad-tensor', /must be ≥ 0/);
    expectCode(oneTensor(5, 0, [5], [1]), 'bad-storage', /declares 5 F32 elements \(20 bytes\), its entry holds 16 bytes/);
    expectCode(oneTensor(2n ** 40n, 0, [4], [1]), 'bad-storage', /declares 1099511627776 F32 elements/);
    expectCode(oneTensor(4, 0, [2 ** 20, 2 ** 20, 2 ** 20], [0, 0, 0]), 'too-large', /exceeds 2147483648 elements/);
    expectCode(oneTensor(4, 0, [2n ** 70n], [1]), 'too-large', /must fit in 2\^53/);
    expectCode(oneTensor(4, 0, [2 ** 15, 2 ** 15], [0, 0]), 'too-large', /repeats the 4 elements of storage '0' into 4294967296 bytes/);
  });

  it('rejects a storage key with no entry', () => {
    expectCode(oneTensor(4, 0, [4], [1], float32Bytes([1, 2, 3, 4]), 'missing'), 'missing-storage', /storage 'missing'.*no entry 'archive\/data\/missing'/);
  });

  it('rejects malformed pickle structure', () => {
    const cases: [(p: PickleWriter) => void, RegExp][] = [
      [(p) => p.get(9), /memo key 9 is read before it is written/],
      [(p) => p.raw(0x30).raw(0x30).raw(0x30), /POP .* the stack is empty/],
      [(p) => p.emptyDict().raw(0x74), /TUPLE .* has no matching MARK/],
      [(p) => p.emptyDict().mark().str('odd').setitems(), /SETITEMS .* key\/value pairs/],
      [(p) => p.emptyList().int(1).int(2).setitem(), /SETITEM\(S\) needs a dict, got list/],
      [(p) => p.str('storage').binpersid(), /persistent id must be/],
      [(p) => p.global('torch._utils', '_rebuild_tensor_v2').int(1).tuple1().reduce(), /takes 6–7 arguments, got 1/],
    ];
    for (const [write, message] of cases) expectCode(payload(write), 'bad-pickle', message);
    const trailing = new PickleWriter().proto(2).emptyDict().stop().raw(0x4e).bytes();
    expectCode(torchArchive(trailing), 'bad-pickle', /1 bytes after STOP/);
  });

  it('rejects self-referencing and absurdly nested metadata without overflowing the stack', () => {
    const cycle = new PickleWriter().proto(2).emptyDict().mark().str('state_dict').emptyDict();
    cycle.str('loop').emptyList().put(5).get(5).append().setitems().stop();
    expectCode(torchArchive(cycle.bytes()), 'bad-pickle', /'loop\[0\]' contains itself/);
    const deep = new PickleWriter().proto(2).emptyDict().mark().str('state_dict').emptyDict().str('deep');
    for (let i = 0; i < 5000; i++) deep.emptyList();
    for (let i = 0; i < 4999; i++) deep.append();
    deep.setitems().stop();
    expectCode(torchArchive(deep.bytes()), 'too-large', /nested more than 256 levels/);
  });

  it('rejects deflated entries, legacy formats, non-zips, missing data.pkl and bad options', () => {
    const p = new PickleWriter().proto(2).emptyDict().stop().bytes();
    expectCode(buildZip([{ name: 'a/data.pkl', data: p, method: 8 }]), 'unsupported-compression', /deflate-compressed.*only stored/);
    expectCode(buildZip([{ name: 'a/data.pkl', data: p, flags: 1 }]), 'bad-zip', /encrypted/);
    expectCode(p, 'unsupported-format', /legacy/);
    expectCode(new TextEncoder().encode('definitely not a zip archive at all'), 'bad-zip', /not a zip archive/);
    expectCode(buildZip([{ name: 'a/other.bin', data: p }]), 'missing-entry', /no '<archive>\/data\.pkl' entry/);
    expectCode(buildZip([{ name: 'a/data.pkl', data: p }, { name: 'a/data.pkl', data: p }]), 'bad-zip', /appears twice/);
    expectCode(torchArchive(p, {}, { byteOrder: 'middle' }), 'bad-zip', /must say 'little' or 'big'/);
    expectCode(torchArchive(new PickleWriter().proto(2).emptyList().stop().bytes()), 'no-state-dict', /must be a dict/);
    expectCode(torchArchive(new PickleWriter().proto(2).emptyDict().str('epoch').int(1).setitem().stop().bytes()), 'no-state-dict', /keys: 'epoch'/);
    expectCode(simpleCheckpoint({ w: [1] }), 'no-state-dict', /no top-level entry 'model'/, { key: 'model' });
    expectCode(simpleCheckpoint({ w: [1] }), 'bad-option', /verifyCrc must be a boolean/, { verifyCrc: 'yes' });
    const error = errorOf(() => readTorchCheckpoint('model.ckpt' as unknown as Uint8Array));
    expect(error.code).toBe('bad-input');
  });

  it('never throws anything but a typed, specific error on random corruption', () => {
    const random = seededRandom(2024);
    const base = simpleCheckpoint({ a: [1, 2, 3], b: [4, 5] });
    const { pickle, storages } = fixtureEntries();
    const fixturePickle = pickle;
    let rejected = 0;
    for (let trial = 0; trial < 400; trial++) {
      const target = trial % 2 === 0 ? base.slice() : fixturePickle.slice();
      const flips = 1 + Math.floor(random() * 3);
      for (let f = 0; f < flips; f++) target[Math.floor(random() * target.length)] = Math.floor(random() * 256);
      const bytes = trial % 2 === 0 ? target : torchArchive(target, storages);
      try {
        readTorchCheckpoint(bytes, { verifyCrc: trial % 4 !== 0 });
      } catch (error) {
        expect(error).toBeInstanceOf(CheckpointError);
        // 'malformed' is the reader's last-resort wrapper: reaching it would mean a bounds check is missing.
        expect((error as CheckpointError).code, (error as Error).message).not.toBe('malformed');
        rejected++;
      }
    }
    expect(rejected).toBeGreaterThan(200);
  });
});
