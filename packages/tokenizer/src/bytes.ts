import { TokenizerError } from './errors.js';

/** A byte view of an ArrayBuffer or any typed array (no copy). */
export function asBytes(fn: string, name: string, source: unknown): Uint8Array {
  if (source instanceof Uint8Array) return source;
  if (source instanceof ArrayBuffer) return new Uint8Array(source);
  if (ArrayBuffer.isView(source)) return new Uint8Array(source.buffer, source.byteOffset, source.byteLength);
  throw new TokenizerError('bad-input', `${fn}: ${name} must be a Uint8Array, ArrayBuffer or typed array, got ${describe(source)}`);
}

/** Short description of an unexpected value for error messages. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  if (typeof value === 'object') return `an object (${Object.prototype.toString.call(value).slice(8, -1)})`;
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  return String(value);
}

export function concatBytes(parts: readonly Uint8Array[]): Uint8Array<ArrayBuffer> {
  const total = parts.reduce((sum, part) => sum + part.byteLength, 0);
  const out = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}

export function utf8Encode(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

/** Strict UTF-8 decoding: malformed bytes throw instead of turning into U+FFFD. */
export function utf8Decode(fn: string, what: string, bytes: Uint8Array): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new TokenizerError('bad-header', `${fn}: ${what} must be valid UTF-8, got malformed bytes`);
  }
}

const crcTable = (() => {
  let table: Uint32Array | null = null;
  return (): Uint32Array => {
    if (table !== null) return table;
    table = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c >>> 0;
    }
    return table;
  };
})();

/** CRC-32 (IEEE 802.3, as zip and PNG), returned unsigned. */
export function crc32(bytes: Uint8Array): number {
  const table = crcTable();
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = table[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** Lower-case hex SHA-256 via Web Crypto (global in browsers and Node ≥ 19). */
export async function sha256Hex(fn: string, bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const subtle = globalThis.crypto?.subtle;
  if (subtle === undefined) {
    throw new TokenizerError('no-crypto', `${fn}: crypto.subtle must be available to compute the artifact id, got none on this engine`);
  }
  const digest = new Uint8Array(await subtle.digest('SHA-256', bytes));
  let hex = '';
  for (const byte of digest) hex += byte.toString(16).padStart(2, '0');
  return hex;
}

/**
 * JSON with object keys sorted at every level, so equal values hash equally regardless of key
 * insertion order. Rejects what JSON cannot round-trip (non-finite numbers, undefined, functions,
 * bigint, cycles) instead of silently writing null.
 */
export function canonicalJson(fn: string, value: unknown, path = '$', depth = 0): string {
  if (depth > 64) throw new TokenizerError('bad-json', `${fn}: JSON must nest at most 64 levels (cycles are not JSON), got deeper at ${path}`);
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) {
      throw new TokenizerError('bad-json', `${fn}: values must be JSON numbers (finite), got ${value} at ${path}`);
    }
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map((item, i) => canonicalJson(fn, item, `${path}[${i}]`, depth + 1)).join(',')}]`;
  if (isPlainObject(value)) {
    const keys = Object.keys(value).sort();
    return `{${keys.map((key) => `${JSON.stringify(key)}:${canonicalJson(fn, value[key], `${path}.${key}`, depth + 1)}`).join(',')}}`;
  }
  throw new TokenizerError(
    'bad-json',
    `${fn}: values must be plain JSON (objects, arrays, strings, finite numbers, booleans, null), got ${describe(value)} at ${path}`,
  );
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}
