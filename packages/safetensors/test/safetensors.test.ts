import { describe, expect, it } from 'vitest';
import { parseSafetensors, SafetensorsError, serializeSafetensors } from '@gq/safetensors';
import { readFixtureBytes, readFixtureJson } from '@gq/test-utils';

function header(bytes: Uint8Array): Record<string, unknown> {
  const length = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  return JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + length))) as Record<string, unknown>;
}

function withHeader(json: string, data = new Uint8Array(0), declared?: number): Uint8Array {
  const text = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + text.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(declared ?? text.length), true);
  out.set(text, 8);
  out.set(data, 8 + text.length);
  return out;
}

describe('parseSafetensors', () => {
  it('reads a PyTorch-written fixture: shapes, dtypes and values agree with its JSON description', () => {
    const file = parseSafetensors(readFixtureBytes('gq-search', 'search_K256_m4_N64.safetensors'));
    const codebook = file.tensors.get('codebook')!;
    expect(codebook.dtype).toBe('F32');
    expect(codebook.shape).toEqual([256, 4]);
    const indices = file.tensors.get('indices_beta1')!;
    expect(indices.dtype).toBe('I32');
    // Dequantised vectors are codebook rows at the indices (a law of the fixture).
    const zhat = file.tensors.get('zhat_beta1')!.data as Float32Array;
    const rows = codebook.data as Float32Array;
    const idx = indices.data as Int32Array;
    for (let n = 0; n < idx.length; n++) {
      for (let d = 0; d < 4; d++) expect(zhat[n * 4 + d]).toBe(rows[idx[n]! * 4 + d]);
    }
    expect(readFixtureJson<Record<string, unknown>>('gq-search', 'search_K256_m4_N64.json')).toBeTypeOf('object');
  });

  it('round-trips every dtype bit-exactly, with metadata and 8-byte aligned data', () => {
    const tensors = {
      f64: { dtype: 'F64', shape: [2], data: new Float64Array([Math.PI, -0]) },
      f32: { dtype: 'F32', shape: [2, 2], data: new Float32Array([1.5, -2, Number.MIN_VALUE, 3.4e38]) },
      f16: { dtype: 'F16', shape: [3], data: new Uint16Array([0x3c00, 0x8000, 0x7bff]) },
      bf16: { dtype: 'BF16', shape: [1], data: new Uint16Array([0x3f80]) },
      i64: { dtype: 'I64', shape: [2], data: new BigInt64Array([-(2n ** 62n), 7n]) },
      i32: { dtype: 'I32', shape: [1], data: new Int32Array([-123456]) },
      i16: { dtype: 'I16', shape: [1], data: new Int16Array([-300]) },
      i8: { dtype: 'I8', shape: [2], data: new Int8Array([-128, 127]) },
      u8: { dtype: 'U8', shape: [3], data: new Uint8Array([0, 1, 255]) },
      empty: { dtype: 'F32', shape: [0, 4], data: new Float32Array(0) },
    } as const;
    const bytes = serializeSafetensors(tensors, { format: 'pt' });
    const length = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(length % 8).toBe(0);
    const parsed = parseSafetensors(bytes);
    expect(parsed.metadata).toEqual({ format: 'pt' });
    for (const [name, entry] of Object.entries(tensors)) {
      const got = parsed.tensors.get(name)!;
      expect(got.dtype).toBe(entry.dtype);
      expect(got.shape).toEqual(entry.shape);
      expect(Array.from(got.data as ArrayLike<unknown>)).toEqual(Array.from(entry.data as ArrayLike<unknown>));
    }
    expect(Object.is((parsed.tensors.get('f64')!.data as Float64Array)[1], -0)).toBe(true);
    expect(header(bytes).__metadata__).toEqual({ format: 'pt' });
  });

  it('rejects truncated, malformed and inconsistent files with typed errors', () => {
    const good = serializeSafetensors({ a: { dtype: 'F32', shape: [4], data: new Float32Array(4) } });
    const cases: [Uint8Array, string, RegExp][] = [
      [good.subarray(0, 5), 'truncated', /at least 8 bytes, got 5/],
      [good.subarray(0, good.length - 1), 'truncated', /ends at byte 16 of the data section, which has 15/],
      [withHeader('{"a":', undefined), 'bad-header', /UTF-8 JSON/],
      [withHeader('[]'), 'bad-header', /JSON object/],
      [withHeader('{}', undefined, 1e12), 'bad-header', /header length must be/],
      [withHeader('{}', undefined, 100), 'truncated', /header needs 100 bytes/],
      [withHeader('{"a":{"dtype":"F33","shape":[1],"data_offsets":[0,4]}}', new Uint8Array(4)), 'bad-entry', /dtype in F64/],
      [withHeader('{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}', new Uint8Array(4)), 'bad-entry', /non-negative integers/],
      [withHeader('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}', new Uint8Array(8)), 'bad-entry', /needs 8 bytes, offsets give 4/],
      [
        withHeader('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', new Uint8Array(8)),
        'bad-entry',
        /overlap/,
      ],
    ];
    for (const [bytes, code, message] of cases) {
      let error: unknown;
      try {
        parseSafetensors(bytes);
      } catch (e) {
        error = e;
      }
      expect(error, String(message)).toBeInstanceOf(SafetensorsError);
      expect((error as SafetensorsError).code).toBe(code);
      expect((error as Error).message).toMatch(message);
    }
  });

  it('refuses to serialise data that does not fill its shape', () => {
    expect(() => serializeSafetensors({ a: { dtype: 'F32', shape: [3], data: new Float32Array(2) } })).toThrow(
      /tensor 'a' of shape \[3\] needs 3 elements, got 2/,
    );
  });
});

describe('parseSafetensors refuses what the reference format refuses, within budgets', () => {
  const ab = '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}';
  function codeOf(bytes: Uint8Array, options = {}): [string, string] {
    try {
      parseSafetensors(bytes, options);
    } catch (error) {
      expect(error).toBeInstanceOf(SafetensorsError);
      return [(error as SafetensorsError).code, (error as Error).message];
    }
    return ['none', ''];
  }

  it('rejects trailing bytes after the last tensor', () => {
    const good = serializeSafetensors({ a: { dtype: 'F32', shape: [2], data: Float32Array.of(1, 2) } });
    const longer = new Uint8Array(good.length + 4);
    longer.set(good);
    expect(codeOf(longer)).toEqual(['trailing-bytes', 'parseSafetensors: the data section must end where the last tensor does (byte 8), got 4 trailing bytes']);
  });

  it('rejects a gap between tensors and a first tensor that does not start at 0 (shifted offsets)', () => {
    const gap = '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}';
    expect(codeOf(withHeader(gap, new Uint8Array(12)))[1]).toMatch(/'b' starts at byte 8, leaving a gap after byte 4/);
    const shifted = '{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}';
    expect(codeOf(withHeader(shifted, new Uint8Array(8)))[1]).toMatch(/'a' starts at byte 4, leaving a gap after byte 0/);
    // The same bytes with exact offsets read, with the right values.
    const data = new Uint8Array(Float32Array.of(3, 4).buffer);
    const file = parseSafetensors(withHeader(ab, data));
    expect([...file.tensors.get('b')!.data]).toEqual([4]);
  });

  it('refuses a header of a million empty tensors by the tensor budget, before decoding them', () => {
    const parts = ['{'];
    for (let i = 0; i < 1_000_000; i++) parts.push(`${i === 0 ? '' : ','}"t${i}":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}`);
    parts.push('}');
    const bytes = withHeader(parts.join(''));
    expect(bytes.byteLength).toBeGreaterThan(50e6);
    const [code, message] = codeOf(bytes);
    expect(code).toBe('too-large');
    expect(message).toMatch(/limits\.maxHeaderBytes: the header holds \d+ bytes, more than the limit of 16777216/);
    const small = withHeader(parts.slice(0, 101).join('') + '}');
    expect(codeOf(small, { limits: { maxTensors: 99 } })[1]).toMatch(/limits\.maxTensors: the header lists more than the limit of 99 tensors/);
    expect(parseSafetensors(small, { limits: { maxTensors: 100 } }).tensors.size).toBe(100);
    expect(codeOf(small, { limits: { maxTensors: -1 } })[0]).toBe('bad-option');
  });
});
