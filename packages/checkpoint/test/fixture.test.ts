import { describe, expect, it } from 'vitest';
import { readTorchCheckpoint } from '@gq/checkpoint';
import { readFixtureBytes, readFixtureJson, readFixtureTensors } from '@gq/test-utils';
import { parseSafetensors } from '@gq/safetensors';

describe('readTorchCheckpoint on the vit-tiny Lightning checkpoint', () => {
  const bytes = readFixtureBytes('vit-tiny', 'model.ckpt');
  const reference = readFixtureTensors(parseSafetensors, 'vit-tiny', 'model.safetensors');

  it('reproduces every tensor of model.safetensors bit for bit, same keys, dtypes and shapes', () => {
    const checkpoint = readTorchCheckpoint(bytes);
    // The README documents identical key names in both files (prefixed encoder./decoder.).
    expect([...checkpoint.tensors.keys()].sort()).toEqual([...reference.keys()].sort());
    expect(checkpoint.tensors.size).toBe(67);
    for (const [name, expected] of reference) {
      const actual = checkpoint.tensors.get(name)!;
      expect(actual.dtype, name).toBe(expected.dtype);
      expect(actual.shape, name).toEqual(expected.shape);
      expect(actual.data).toBeInstanceOf(Float32Array);
      // Exact equality on the raw bits: any decoding slip (offset, stride, byte order) shows.
      const actualBits = new Uint32Array(actual.data.buffer as ArrayBuffer, actual.data.byteOffset, actual.data.length);
      const expectedBits = new Uint32Array((expected.data as Float32Array).slice().buffer);
      expect(actualBits.length, name).toBe(expectedBits.length);
      let mismatches = 0;
      for (let i = 0; i < expectedBits.length; i++) if (actualBits[i] !== expectedBits[i]) mismatches++;
      expect(mismatches, name).toBe(0);
    }
  });

  it('keeps the state_dict() order of keys.json and reports where it read from', () => {
    const checkpoint = readTorchCheckpoint(bytes.slice().buffer);
    const { keys } = readFixtureJson<{ keys: [string, number[]][] }>('vit-tiny', 'keys.json');
    expect([...checkpoint.tensors.keys()]).toEqual(keys.map(([name]) => name));
    expect([...checkpoint.tensors.values()].map((t) => t.shape)).toEqual(keys.map(([, shape]) => shape));
    expect(checkpoint.stateDictKey).toBe('state_dict');
    expect(checkpoint.archiveName).toBe('model');
    expect(checkpoint.byteOrder).toBe('little');
    expect(checkpoint.metadata).toEqual({});
    expect(checkpoint.extras.size).toBe(0);
    expect(checkpoint.skipped).toEqual([]);
  });

  it('gives the same tensors with CRC checks off and never aliases the input buffer', () => {
    const copy = bytes.slice();
    const checked = readTorchCheckpoint(copy);
    const unchecked = readTorchCheckpoint(copy, { verifyCrc: false });
    const name = 'decoder.conv_out.weight';
    expect(Array.from(unchecked.tensors.get(name)!.data as Float32Array)).toEqual(Array.from(checked.tensors.get(name)!.data as Float32Array));
    copy.fill(0);
    expect(Array.from(checked.tensors.get(name)!.data as Float32Array)).toEqual(Array.from(reference.get(name)!.data as Float32Array));
  });
});
