import { concatBytes, asBytes, crc32, utf8Decode, utf8Encode } from './bytes.js';
import { TokenizerError } from './errors.js';
import { resolveManifest, type TokenizerManifest } from './manifest.js';

/**
 * `.gqtok` single-file container, all integers little-endian:
 *   bytes 0..7   magic 89 47 51 54 4F 4B 0D 0A ("\x89GQTOK\r\n": the high byte and CR LF catch 7-bit and newline-mangling transfers)
 *   bytes 8..11  container version (1)
 *   bytes 12..15 CRC-32 of everything after byte 31 (manifest JSON + weights)
 *   bytes 16..23 manifest JSON length M
 *   bytes 24..31 weights (safetensors) length W
 *   then M bytes of UTF-8 manifest JSON, then W bytes of weights; nothing after.
 */
export const ARTIFACT_MAGIC: readonly number[] = [0x89, 0x47, 0x51, 0x54, 0x4f, 0x4b, 0x0d, 0x0a];
export const ARTIFACT_CONTAINER_VERSION = 1;
const headerBytes = 32;

/** A tokenizer artifact: the manifest and the safetensors weights (the two files of an artifact directory). */
export interface TokenizerArtifact {
  readonly manifest: TokenizerManifest;
  /** `manifest.json` contents (UTF-8 JSON text). */
  readonly manifestJson: string;
  /** `weights.safetensors` contents. */
  readonly weights: Uint8Array;
}

/**
 * One `.gqtok` file holding a manifest and its weights. The manifest is validated first.
 * @param artifact `manifest` (object) or `manifestJson` (string; takes precedence), and `weights`
 * @throws TokenizerError `bad-manifest` (and the other manifest codes), `bad-input`
 */
export function packArtifact(artifact: {
  readonly manifest?: TokenizerManifest | object;
  readonly manifestJson?: string;
  readonly weights: Uint8Array | ArrayBuffer;
}): Uint8Array {
  const fn = 'packArtifact';
  const source = artifact.manifestJson ?? artifact.manifest;
  if (source === undefined) throw new TokenizerError('bad-input', `${fn}: artifact must have a manifest or manifestJson, got neither`);
  const { manifest } = resolveManifest(fn, source);
  const json = utf8Encode(typeof source === 'string' ? source : JSON.stringify(manifest, null, 2));
  const weights = asBytes(fn, 'weights', artifact.weights);
  const head = new Uint8Array(headerBytes);
  head.set(ARTIFACT_MAGIC, 0);
  const view = new DataView(head.buffer);
  view.setUint32(8, ARTIFACT_CONTAINER_VERSION, true);
  view.setUint32(12, crc32(concatBytes([json, weights])), true);
  view.setBigUint64(16, BigInt(json.byteLength), true);
  view.setBigUint64(24, BigInt(weights.byteLength), true);
  return concatBytes([head, json, weights]);
}

/**
 * Split and validate a `.gqtok` container: magic, version, lengths (truncated or trailing bytes),
 * CRC-32, and the manifest (`resolveManifest`). `weights` is a view into `bytes` (no copy).
 * The artifact id is checked by `Tokenizer.load`, which hashes the weights.
 * @throws TokenizerError `bad-magic`, `bad-version`, `truncated`, `length-mismatch`, `checksum-mismatch`, `bad-manifest`, …
 */
export function unpackArtifact(source: Uint8Array | ArrayBuffer): TokenizerArtifact {
  const fn = 'unpackArtifact';
  const bytes = asBytes(fn, 'source', source);
  if (bytes.byteLength < headerBytes) {
    throw new TokenizerError('truncated', `${fn}: a .gqtok container needs at least ${headerBytes} header bytes, got ${bytes.byteLength}`);
  }
  for (let i = 0; i < ARTIFACT_MAGIC.length; i++) {
    if (bytes[i] !== ARTIFACT_MAGIC[i]) {
      const seen = Array.from(bytes.subarray(0, 8), (b) => b.toString(16).padStart(2, '0')).join(' ');
      throw new TokenizerError('bad-magic', `${fn}: source must start with the .gqtok magic 89 47 51 54 4f 4b 0d 0a, got ${seen}`);
    }
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint32(8, true);
  if (version !== ARTIFACT_CONTAINER_VERSION) {
    throw new TokenizerError('bad-version', `${fn}: container version must be ${ARTIFACT_CONTAINER_VERSION}, got ${version}`);
  }
  const storedCrc = view.getUint32(12, true);
  const manifestLength = view.getBigUint64(16, true);
  const weightsLength = view.getBigUint64(24, true);
  const expected = BigInt(headerBytes) + manifestLength + weightsLength;
  const actual = BigInt(bytes.byteLength);
  if (actual < expected) {
    throw new TokenizerError(
      'truncated',
      `${fn}: container declares ${manifestLength} manifest + ${weightsLength} weights bytes (${expected} in all), got ${actual} bytes`,
    );
  }
  if (actual > expected) {
    throw new TokenizerError('length-mismatch', `${fn}: container must end after ${expected} bytes as its header declares, got ${actual - expected} trailing bytes`);
  }
  const m = Number(manifestLength);
  const body = bytes.subarray(headerBytes);
  const crc = crc32(body);
  if (crc !== storedCrc) {
    throw new TokenizerError('checksum-mismatch', `${fn}: CRC-32 of manifest and weights must be ${hex(storedCrc)} as stored, got ${hex(crc)} (the file is corrupt)`);
  }
  const manifestJson = utf8Decode(fn, 'the manifest', body.subarray(0, m));
  const { manifest } = resolveManifest(fn, manifestJson);
  return { manifest, manifestJson, weights: body.subarray(m) };
}

function hex(value: number): string {
  return `0x${value.toString(16).padStart(8, '0')}`;
}
