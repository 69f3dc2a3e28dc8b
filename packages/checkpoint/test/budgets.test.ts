import { describe, expect, it } from 'vitest';
import { readTorchCheckpoint, type ReadTorchCheckpointOptions } from '@gq/checkpoint';
import { PickleWriter, errorOf, float32Bytes, torchArchive } from './builders.js';

/**
 * `{'state_dict': {'w': tensor}, key: <levels>}` where each level is a container holding the level
 * below twice through the memo: 2^levels paths to one object in a few hundred bytes.
 */
function sharingBomb(levels: number, kind: 'list' | 'dict', where: 'metadata' | 'state-dict'): Uint8Array {
  const p = new PickleWriter().proto(2).emptyDict().str('state_dict').emptyDict();
  p.str('w').tensor({ type: 'FloatStorage', key: '0', numel: 1 }, 0, [1], [1]).setitem();
  if (where === 'metadata') p.setitem();
  p.str('bomb');
  const memoBase = 10;
  p.int(5).put(memoBase);
  for (let level = 1; level <= levels; level++) {
    p.raw(0x30); // POP: the level stays reachable through the memo only
    if (kind === 'list') p.emptyList().mark().get(memoBase + level - 1).get(memoBase + level - 1).appends();
    else p.emptyDict().mark().str('a').get(memoBase + level - 1).str('b').get(memoBase + level - 1).setitems();
    p.put(memoBase + level);
  }
  p.setitem();
  if (where === 'state-dict') p.setitem();
  return torchArchive(p.stop().bytes(), { 0: float32Bytes([7]) });
}

describe('readTorchCheckpoint works within budgets', () => {
  it('converts a shared list once: 30 levels of a list held twice per level read at once, sharing kept', () => {
    const bytes = sharingBomb(30, 'list', 'metadata');
    expect(bytes.byteLength).toBeLessThan(2048);
    const started = Date.now();
    const ckpt = readTorchCheckpoint(bytes);
    expect(Date.now() - started).toBeLessThan(2000);
    const top = ckpt.metadata.bomb as readonly unknown[];
    expect(top).toHaveLength(2);
    // One converted value per pickle object: both slots are the same array.
    expect(top[0]).toBe(top[1]);
    let depth = 0;
    let level: unknown = top;
    for (; Array.isArray(level); level = level[0]) depth++;
    expect([depth, level]).toEqual([30, 5]);
    expect([...ckpt.tensors.get('w')!.data]).toEqual([7]);
  });

  it('converts a shared dict once in metadata', () => {
    const ckpt = readTorchCheckpoint(sharingBomb(30, 'dict', 'metadata'));
    const top = ckpt.metadata.bomb as Record<string, unknown>;
    expect(top.a).toBe(top.b);
  });

  it('refuses a dict shared 2^30 ways inside the state dict by the object budget, naming it', () => {
    const started = Date.now();
    const error = errorOf(() => readTorchCheckpoint(sharingBomb(30, 'dict', 'state-dict')));
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(error.code).toBe('too-large');
    expect(error.message).toMatch(/limits\.maxObjects: .* more than the limit of 250000 pickle objects/);
    // A raised budget lets a smaller one through, with every flattened name.
    const ckpt = readTorchCheckpoint(sharingBomb(8, 'dict', 'state-dict'), { limits: { maxObjects: 10_000 } });
    expect(ckpt.extras.size).toBe(256);
    expect(ckpt.extras.has('bomb.a.b.a.b.a.b.a.b')).toBe(true);
  });

  it('refuses a dict shared 2^30 ways when looking for a state dict at the top level', () => {
    const p = new PickleWriter().proto(2).emptyDict().str('x').int(5).put(0);
    for (let level = 1; level <= 30; level++) p.raw(0x30).emptyDict().mark().str('a').get(level - 1).str('b').get(level - 1).setitems().put(level);
    const bytes = torchArchive(p.setitem().stop().bytes());
    const started = Date.now();
    const error = errorOf(() => readTorchCheckpoint(bytes));
    expect(Date.now() - started).toBeLessThan(2000);
    expect(error.code).toBe('no-state-dict');
  });

  it('caps the total bytes that expanded views materialise, not only each one', () => {
    // 12 stride-0 views of a one-element storage, each 64 Mi elements (256 MiB) — the old per-tensor cap let each through.
    const p = new PickleWriter().proto(2).emptyDict().str('state_dict').emptyDict().mark();
    for (let i = 0; i < 12; i++) p.str(`w${i}`).tensor({ type: 'FloatStorage', key: '0', numel: 1 }, 0, [8192, 8191], [0, 0]);
    const bytes = torchArchive(p.setitems().setitem().stop().bytes(), { 0: float32Bytes([1]) });
    expect(bytes.byteLength).toBeLessThan(4096);
    const error = errorOf(() => readTorchCheckpoint(bytes));
    expect(error.code).toBe('too-large');
    expect(error.message).toMatch(/limits\.maxTensorBytes: tensor 'w1' would bring the tensor data materialised to 536805376 bytes, more than the limit of 268435456/);
    const small = new PickleWriter().proto(2).emptyDict().str('state_dict').emptyDict().mark();
    for (let i = 0; i < 3; i++) small.str(`w${i}`).tensor({ type: 'FloatStorage', key: '0', numel: 1 }, 0, [4], [0]);
    const smallBytes = torchArchive(small.setitems().setitem().stop().bytes(), { 0: float32Bytes([1]) });
    expect(errorOf(() => readTorchCheckpoint(smallBytes, { limits: { maxTensorBytes: 40 } })).message).toMatch(/tensor 'w2' .* 48 bytes, more than the limit of 40/);
    expect(readTorchCheckpoint(smallBytes, { limits: { maxTensorBytes: 48 } }).tensors.size).toBe(3);
  });

  it('refuses a tuple key 100 000 levels deep as a depth budget, not a stack overflow', () => {
    const p = new PickleWriter().proto(2).emptyDict().str('state_dict').emptyDict().str('w');
    p.tensor({ type: 'FloatStorage', key: '0', numel: 1 }, 0, [1], [1]).setitem();
    p.str('meta').emptyDict().int(1);
    for (let i = 0; i < 100_000; i++) p.tuple1();
    p.int(2).setitem().setitem().setitem();
    const error = errorOf(() => readTorchCheckpoint(torchArchive(p.stop().bytes(), { 0: float32Bytes([1]) })));
    expect(error.code).toBe('too-large');
    expect(error.message).toMatch(/limits\.maxDepth: a dict key is nested more than 256 levels deep/);
  });

  it('validates the limits option', () => {
    const bytes = sharingBomb(2, 'list', 'metadata');
    const bad: ReadTorchCheckpointOptions[] = [{ limits: { maxDepth: -1 } }, { limits: { maxDepth: 1e9 } }, { limits: { extra: 1 } as never }];
    for (const options of bad) expect(errorOf(() => readTorchCheckpoint(bytes, options)).code).toBe('bad-option');
    expect(errorOf(() => readTorchCheckpoint(bytes, { limits: { maxDepth: 0 } })).message).toMatch(/limits\.maxDepth/);
  });
});
