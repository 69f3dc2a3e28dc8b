import { packIndices, unpackIndices } from '@gq/codebook';
import { asBytes, concatBytes, crc32, describe, isPlainObject, utf8Decode, utf8Encode } from './bytes.js';
import { TokenizerError, rethrow } from './errors.js';
import { resolveManifest, type TokenizerManifest } from './manifest.js';
import { Tokenizer, type Tokens } from './tokenizer.js';

/**
 * `.gqt` token file, integers little-endian:
 *   bytes 0..7   magic 89 47 51 54 0D 0A 1A 0A ("\x89GQT\r\n\x1a\n", PNG-style transfer checks)
 *   bytes 8..11  format version (2; version 1 files, which lack the next field, are still read)
 *   bytes 12..15 header length H
 *   bytes 16..19 CRC-32 of the H header bytes (version 2 only)
 *   H bytes of UTF-8 JSON header (`TokenFileHeader`)
 *   then exactly ⌈count·bitsPerToken/8⌉ bytes of indices, bit-packed MSB-first (@gq/codebook packIndices)
 */
export const TOKEN_FILE_MAGIC: readonly number[] = [0x89, 0x47, 0x51, 0x54, 0x0d, 0x0a, 0x1a, 0x0a];
/** The token file version `writeTokenFile` writes; `readTokenFile` also reads version 1. */
export const TOKEN_FILE_VERSION = 2;
const prefixBytes = 20;
const prefixBytesV1 = 16;
/** Real headers are a few hundred bytes; a corrupt length must not make us decode megabytes of JSON. */
const maxHeaderBytes = 1 << 20;

/** The JSON header of a `.gqt` file. */
export interface TokenFileHeader {
  readonly format: 'gq-tokens';
  /** Artifact id of the tokenizer that wrote the tokens. */
  readonly artifactId: string;
  /** [B, H, W, C_img] of the encoded images. */
  readonly imageShape: readonly [number, number, number, number];
  /** [h, w]: latent grid per image. */
  readonly latentGrid: readonly [number, number];
  /** G. */
  readonly tokensPerPosition: number;
  /** K: every index is below it. */
  readonly codebookSize: number;
  /** Bits per packed index, ⌈log2 K⌉. */
  readonly bitsPerToken: number;
  /** B·h·w·G. */
  readonly count: number;
  /** Byte length of the packed indices, ⌈count·bitsPerToken/8⌉. */
  readonly payloadBytes: number;
  /** CRC-32 (IEEE) of the packed indices. */
  readonly crc32: number;
}

export interface ReadTokenFileOptions {
  /** Reject a file written by another tokenizer (artifact id mismatch). */
  readonly expectArtifactId?: string;
  /**
   * The tokenizer that will decode the tokens: the file must carry its artifact id, and its K,
   * G, image channels, downsampling factor and (ViT) grid must be the tokenizer's, so a header
   * that lies about the geometry is refused before anything is decoded. Default none.
   */
  readonly tokenizer?: Tokenizer;
}

export interface TokenFile {
  readonly tokens: Tokens;
  readonly header: TokenFileHeader;
}

const headerKeys = ['format', 'artifactId', 'imageShape', 'latentGrid', 'tokensPerPosition', 'codebookSize', 'bitsPerToken', 'count', 'payloadBytes', 'crc32'] as const;

/** ⌈log2 K⌉ for 2 ≤ K ≤ 2^31, in integer arithmetic. */
function bitsFor(size: number): number {
  return 32 - Math.clz32(size - 1);
}

function positiveInts(value: unknown, length: number): value is number[] {
  return Array.isArray(value) && value.length === length && value.every((v) => Number.isSafeInteger(v) && v > 0);
}

/**
 * Serialise tokens for the tokenizer (or artifact manifest) that produced them.
 * @param tokens from `Tokenizer.encode`: indices [B, h, w, G] in [0, K)
 * @param target the tokenizer (with a known artifact id: loaded, or after `toArtifact`) or its manifest
 * @throws TokenizerError `no-artifact-id`, `bad-tokens`, `codebook-mismatch`, `index-out-of-range`, `bad-manifest`
 */
export function writeTokenFile(tokens: Tokens, target: Tokenizer | TokenizerManifest): Uint8Array {
  const fn = 'writeTokenFile';
  let artifactId: string;
  let size: number;
  let groups: number;
  let factor: number;
  let channels: number;
  let fixedGrid: readonly [number, number] | null;
  if (target instanceof Tokenizer) {
    const id = target.artifactId;
    if (id === null) {
      throw new TokenizerError('no-artifact-id', `${fn}: the tokenizer must have an artifact id (load it, or call toArtifact first), got none`);
    }
    artifactId = id;
    size = target.codebook.size;
    groups = target.tokensPerPosition;
    factor = target.downsamplingFactor;
    channels = target.image.channels;
    fixedGrid = target.arch === 'vit' ? [target.latent.height, target.latent.width] : null;
  } else {
    const { manifest } = resolveManifest(fn, target);
    artifactId = manifest.artifactId;
    size = manifest.codebook.size;
    groups = manifest.tokensPerPosition;
    factor = manifest.downsamplingFactor;
    channels = manifest.image.channels;
    fixedGrid = manifest.arch === 'vit' ? [manifest.latent.height, manifest.latent.width] : null;
  }
  if (!isPlainObject(tokens) || !(tokens.indices instanceof Int32Array) || !positiveInts(tokens.shape, 4)) {
    throw new TokenizerError('bad-tokens', `${fn}: tokens must be {indices: Int32Array, shape: [B,h,w,G] positive, bitsPerToken}, got ${describe(tokens)}`);
  }
  const [b, h, w, g] = tokens.shape;
  const bits = bitsFor(size);
  if (tokens.bitsPerToken !== bits) {
    throw new TokenizerError('codebook-mismatch', `${fn}: tokens.bitsPerToken must be ${bits} for K=${size}, got ${describe(tokens.bitsPerToken)}`);
  }
  if (g !== groups) throw new TokenizerError('codebook-mismatch', `${fn}: tokens must have G=${groups} tokens per position, got shape [${tokens.shape.join(',')}]`);
  if (fixedGrid !== null && (h !== fixedGrid[0] || w !== fixedGrid[1])) {
    throw new TokenizerError('bad-tokens', `${fn}: tokens must have the ViT grid ${fixedGrid[0]}×${fixedGrid[1]}, got shape [${tokens.shape.join(',')}]`);
  }
  const count = b * h * w * g;
  if (tokens.indices.length !== count) {
    throw new TokenizerError('bad-tokens', `${fn}: tokens.indices must have B·h·w·G = ${count} entries, got ${tokens.indices.length}`);
  }
  for (let i = 0; i < count; i++) {
    const index = tokens.indices[i]!;
    if (index < 0 || index >= size) {
      throw new TokenizerError('index-out-of-range', `${fn}: token indices must be in [0, K=${size}), got ${index} at position ${i}`);
    }
  }
  let payload: Uint8Array;
  try {
    payload = packIndices(tokens.indices, bits);
  } catch (error) {
    rethrow(fn, 'bad-tokens', error);
  }
  const header: TokenFileHeader = {
    format: 'gq-tokens',
    artifactId,
    imageShape: [b, h * factor, w * factor, channels],
    latentGrid: [h, w],
    tokensPerPosition: g,
    codebookSize: size,
    bitsPerToken: bits,
    count,
    payloadBytes: payload.byteLength,
    crc32: crc32(payload),
  };
  const json = utf8Encode(JSON.stringify(header));
  const prefix = new Uint8Array(prefixBytes);
  prefix.set(TOKEN_FILE_MAGIC, 0);
  const view = new DataView(prefix.buffer);
  view.setUint32(8, TOKEN_FILE_VERSION, true);
  view.setUint32(12, json.byteLength, true);
  view.setUint32(16, crc32(json), true);
  return concatBytes([prefix, json, payload]);
}

/** The header must describe tokens this tokenizer can have written and can decode. */
function checkAgainstModel(fn: string, header: TokenFileHeader, tokenizer: Tokenizer): void {
  if (!(tokenizer instanceof Tokenizer)) throw new TokenizerError('bad-options', `${fn}: options.tokenizer must be a Tokenizer, got ${describe(tokenizer)}`);
  const id = tokenizer.artifactId;
  if (id !== null && id !== header.artifactId) {
    throw new TokenizerError('artifact-mismatch', `${fn}: tokens must come from tokenizer ${id}, got a file written by ${header.artifactId}`);
  }
  const [, height, width, channels] = header.imageShape;
  const [h, w] = header.latentGrid;
  const mismatch = (what: string, want: unknown, got: unknown): never => {
    throw new TokenizerError('geometry-mismatch', `${fn}: header ${what} must be ${String(want)} for this tokenizer, got ${String(got)}`);
  };
  if (header.codebookSize !== tokenizer.codebook.size) mismatch('codebookSize K', tokenizer.codebook.size, header.codebookSize);
  if (header.tokensPerPosition !== tokenizer.tokensPerPosition) mismatch('tokensPerPosition G', tokenizer.tokensPerPosition, header.tokensPerPosition);
  if (channels !== tokenizer.image.channels) mismatch('image channels', tokenizer.image.channels, channels);
  if (height !== h * tokenizer.downsamplingFactor) mismatch(`image height (latent ${h} × f=${tokenizer.downsamplingFactor})`, h * tokenizer.downsamplingFactor, height);
  if (width !== w * tokenizer.downsamplingFactor) mismatch(`image width (latent ${w} × f=${tokenizer.downsamplingFactor})`, w * tokenizer.downsamplingFactor, width);
  if (tokenizer.arch === 'vit' && (h !== tokenizer.latent.height || w !== tokenizer.latent.width)) {
    mismatch('latentGrid (a ViT fixes it)', `${tokenizer.latent.height}×${tokenizer.latent.width}`, `${h}×${w}`);
  }
}

function badHeader(fn: string, what: string, got: unknown): never {
  throw new TokenizerError('bad-header', `${fn}: header ${what}, got ${describe(got)}`);
}

function checkHeader(fn: string, value: unknown): TokenFileHeader {
  if (!isPlainObject(value)) badHeader(fn, 'must be a JSON object', value);
  const missing = headerKeys.filter((key) => !(key in value));
  if (missing.length > 0) badHeader(fn, `must have the fields ${headerKeys.join(', ')}; missing ${missing.join(', ')}`, Object.keys(value).join(', '));
  const extra = Object.keys(value).filter((key) => !(headerKeys as readonly string[]).includes(key));
  if (extra.length > 0) badHeader(fn, `must have only the fields ${headerKeys.join(', ')}`, `unknown ${extra.join(', ')}`);
  if (value.format !== 'gq-tokens') badHeader(fn, "format must be 'gq-tokens'", value.format);
  if (typeof value.artifactId !== 'string' || !/^[0-9a-f]{64}$/.test(value.artifactId)) badHeader(fn, 'artifactId must be 64 lower-case hex digits', value.artifactId);
  if (!positiveInts(value.imageShape, 4)) badHeader(fn, 'imageShape must be four positive integers [B,H,W,C]', value.imageShape);
  if (!positiveInts(value.latentGrid, 2)) badHeader(fn, 'latentGrid must be two positive integers [h,w]', value.latentGrid);
  for (const key of ['tokensPerPosition', 'codebookSize', 'bitsPerToken'] as const) {
    if (!Number.isSafeInteger(value[key]) || (value[key] as number) < 1) badHeader(fn, `${key} must be a positive integer`, value[key]);
  }
  for (const key of ['count', 'payloadBytes', 'crc32'] as const) {
    if (!Number.isSafeInteger(value[key]) || (value[key] as number) < 0) badHeader(fn, `${key} must be a non-negative integer`, value[key]);
  }
  const header = value as unknown as TokenFileHeader;
  const [b, height, width] = header.imageShape;
  const [h, w] = header.latentGrid;
  if (height % h !== 0 || width % w !== 0 || height / h !== width / w) {
    badHeader(fn, `imageShape [${header.imageShape.join(',')}] must be the latent grid [${h},${w}] times one factor f`, header.imageShape);
  }
  if (header.codebookSize < 2 || header.codebookSize > 2 ** 31) badHeader(fn, 'codebookSize K must be in [2, 2^31]', header.codebookSize);
  const bits = bitsFor(header.codebookSize);
  if (header.bitsPerToken !== bits) badHeader(fn, `bitsPerToken must be ⌈log2 K⌉ = ${bits} for K=${header.codebookSize}`, header.bitsPerToken);
  const count = b * h * w * header.tokensPerPosition;
  if (header.count !== count) badHeader(fn, `count must be B·h·w·G = ${count}`, header.count);
  const payloadBytes = Math.ceil((count * bits) / 8);
  if (header.payloadBytes !== payloadBytes) badHeader(fn, `payloadBytes must be ⌈count·bits/8⌉ = ${payloadBytes}`, header.payloadBytes);
  if (header.crc32 > 0xffffffff) badHeader(fn, 'crc32 must be a 32-bit unsigned integer', header.crc32);
  return header;
}

/**
 * Parse and validate a `.gqt` file: magic, version, header fields and their consistency, exact
 * payload length, CRC-32, every index below K, and (optionally) the artifact id.
 * @throws TokenizerError `truncated`, `bad-magic`, `bad-version`, `bad-header`, `length-mismatch`,
 *   `checksum-mismatch`, `index-out-of-range`, `artifact-mismatch`
 */
export function readTokenFile(source: Uint8Array | ArrayBuffer, options: ReadTokenFileOptions = {}): TokenFile {
  const fn = 'readTokenFile';
  const bytes = asBytes(fn, 'source', source);
  if (bytes.byteLength < prefixBytesV1) {
    throw new TokenizerError('truncated', `${fn}: a .gqt file needs at least ${prefixBytesV1} bytes before its header, got ${bytes.byteLength}`);
  }
  for (let i = 0; i < TOKEN_FILE_MAGIC.length; i++) {
    if (bytes[i] !== TOKEN_FILE_MAGIC[i]) {
      const seen = Array.from(bytes.subarray(0, 8), (x) => x.toString(16).padStart(2, '0')).join(' ');
      throw new TokenizerError('bad-magic', `${fn}: source must start with the .gqt magic 89 47 51 54 0d 0a 1a 0a, got ${seen}`);
    }
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint32(8, true);
  if (version !== TOKEN_FILE_VERSION && version !== 1) throw new TokenizerError('bad-version', `${fn}: format version must be 1 or ${TOKEN_FILE_VERSION}, got ${version}`);
  const start = version === 1 ? prefixBytesV1 : prefixBytes;
  if (bytes.byteLength < start) {
    throw new TokenizerError('truncated', `${fn}: a version ${version} .gqt file needs at least ${start} bytes before its header, got ${bytes.byteLength}`);
  }
  const headerLength = view.getUint32(12, true);
  if (headerLength > maxHeaderBytes) throw new TokenizerError('bad-header', `${fn}: header length must be at most ${maxHeaderBytes} bytes, got ${headerLength}`);
  if (start + headerLength > bytes.byteLength) {
    throw new TokenizerError('truncated', `${fn}: header declares ${headerLength} bytes, only ${bytes.byteLength - start} follow`);
  }
  const headerBytes = bytes.subarray(start, start + headerLength);
  if (version !== 1) {
    const stored = view.getUint32(16, true);
    const actual = crc32(headerBytes);
    if (actual !== stored) {
      throw new TokenizerError('checksum-mismatch', `${fn}: CRC-32 of the header must be ${stored} as stored, got ${actual} (the header is corrupt)`);
    }
  }
  const text = utf8Decode(fn, 'the header', headerBytes);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text) as unknown;
  } catch (error) {
    throw new TokenizerError('bad-header', `${fn}: header must be JSON, got a parse error (${(error as Error).message})`);
  }
  const header = checkHeader(fn, parsed);
  if (options.tokenizer !== undefined) checkAgainstModel(fn, header, options.tokenizer);
  const payload = bytes.subarray(start + headerLength);
  if (payload.byteLength < header.payloadBytes) {
    throw new TokenizerError('truncated', `${fn}: ${header.count} indices of ${header.bitsPerToken} bits need ${header.payloadBytes} bytes, got ${payload.byteLength}`);
  }
  if (payload.byteLength > header.payloadBytes) {
    throw new TokenizerError('length-mismatch', `${fn}: data must be exactly ${header.payloadBytes} bytes as the header declares, got ${payload.byteLength}`);
  }
  const crc = crc32(payload);
  if (crc !== header.crc32) {
    throw new TokenizerError('checksum-mismatch', `${fn}: CRC-32 of the indices must be ${header.crc32} as the header declares, got ${crc} (the file is corrupt)`);
  }
  if (options.expectArtifactId !== undefined && options.expectArtifactId !== header.artifactId) {
    throw new TokenizerError(
      'artifact-mismatch',
      `${fn}: tokens must come from tokenizer ${options.expectArtifactId}, got a file written by ${header.artifactId}`,
    );
  }
  let indices: Int32Array;
  try {
    indices = unpackIndices(payload, header.count, header.bitsPerToken, header.codebookSize);
  } catch (error) {
    rethrow(fn, (error as { code?: unknown }).code === 'index-out-of-range' ? 'index-out-of-range' : 'bad-header', error);
  }
  const [b] = header.imageShape;
  const [h, w] = header.latentGrid;
  return { tokens: { indices, shape: [b, h, w, header.tokensPerPosition], bitsPerToken: header.bitsPerToken }, header };
}
