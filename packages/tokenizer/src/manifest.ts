import { CODEBOOK_VERSION, type GeneratedCodebookMethod } from '@gq/codebook';
import type { LatentLayout } from '@gq/core';
import { canonicalJson, concatBytes, describe, isPlainObject, sha256Hex, utf8Encode } from './bytes.js';
import { TokenizerError } from './errors.js';
import { geometry, normalizeVae, type Geometry, type VaeDescription } from './vae.js';
import type * as unet from '@gq/vae-unet';
import type * as vit from '@gq/vae-vit';

/** `manifest.format` of every tokenizer artifact. */
export const MANIFEST_FORMAT = 'gq-tokenizer';
/** The manifest format version this package reads and writes. */
export const MANIFEST_VERSION = 1;
/** Safetensors key holding an embedded ('table') codebook, F32 [K, m]; outside the VAE's `encoder.`/`decoder.` names. */
export const CODEBOOK_WEIGHTS_KEY = 'gq.codebook';

/** A JSON value as stored in the manifest's free-form sections. */
export type JsonValue = null | boolean | number | string | readonly JsonValue[] | { readonly [key: string]: JsonValue };
export type JsonObject = { readonly [key: string]: JsonValue };

/**
 * How the manifest names the codebook: a generator spec (`'sobol'`, `'normal'`, or `'torch-sobol'`,
 * the reference implementation's own table), or a table stored in the weights file.
 */
export type ManifestCodebook =
  | { readonly method: GeneratedCodebookMethod; readonly size: number; readonly dim: number; readonly seed: number; readonly version: number }
  | { readonly method: 'table'; readonly size: number; readonly dim: number; readonly storage: 'weights'; readonly key: string };

/** Everything that determines what a tokenizer computes; the artifact id hashes this and the weights. */
export interface ManifestCore {
  readonly format: typeof MANIFEST_FORMAT;
  readonly formatVersion: number;
  readonly arch: 'unet' | 'vit';
  readonly config: unet.UnetConfig | vit.VitConfig;
  readonly codebook: ManifestCodebook;
  /** Channel grouping of tokens in the latent (docs/algorithms.md §1). */
  readonly layout: LatentLayout;
  /** GQ prior weight β (the paper's ω). */
  readonly beta: number;
  readonly image: { readonly height: number; readonly width: number; readonly channels: number };
  /** Latent grid h×w and channels C = G·m. */
  readonly latent: { readonly height: number; readonly width: number; readonly channels: number };
  /** f: image side / latent side. */
  readonly downsamplingFactor: number;
  /** G = C/m. */
  readonly tokensPerPosition: number;
  /** h·w·G. */
  readonly tokensPerImage: number;
  /** log2 K. */
  readonly bitsPerToken: number;
  /** h·w·G·log2 K. */
  readonly bitsPerImage: number;
  /** G·log2 K / f² (fixed-length code, no entropy coding). */
  readonly bitsPerPixel: number;
}

/** The tokenizer artifact's `manifest.json`. */
export interface TokenizerManifest extends ManifestCore {
  /** Lower-case hex SHA-256 of the canonical manifest core and the weights bytes. */
  readonly artifactId: string;
  /** Free-form training summary (steps, dataset, losses, …), or null. */
  readonly training: JsonObject | null;
  /** Free-form evaluation metrics (PSNR, usage, …), or null. */
  readonly metrics: JsonObject | null;
  /** Versions of the packages that produced the artifact, by package name. */
  readonly packages: { readonly [name: string]: string };
}

/** A validated manifest and what it implies. */
export interface ResolvedManifest {
  readonly manifest: TokenizerManifest;
  readonly vae: VaeDescription;
  readonly geometry: Geometry;
}

const coreKeys = [
  'format', 'formatVersion', 'arch', 'config', 'codebook', 'layout', 'beta', 'image', 'latent', 'downsamplingFactor',
  'tokensPerPosition', 'tokensPerImage', 'bitsPerToken', 'bitsPerImage', 'bitsPerPixel',
] as const;
const manifestKeys = [...coreKeys, 'artifactId', 'training', 'metrics', 'packages'] as const;

/** log2 of a power of two K ≤ 2^31, exactly. */
export function log2Exact(size: number): number {
  return 31 - Math.clz32(size);
}

function isPowerOfTwo(value: number): boolean {
  return Number.isSafeInteger(value) && value >= 2 && value <= 2 ** 31 && 2 ** log2Exact(value) === value;
}

/** Derived rate fields and the full core for a tokenizer description. */
export function buildCore(
  vae: VaeDescription,
  codebook: ManifestCodebook,
  layout: LatentLayout,
  beta: number,
  geo: Geometry,
): ManifestCore {
  const tokensPerPosition = geo.latent.channels / codebook.dim;
  const bitsPerToken = log2Exact(codebook.size);
  const tokensPerImage = geo.latent.height * geo.latent.width * tokensPerPosition;
  return {
    format: MANIFEST_FORMAT,
    formatVersion: MANIFEST_VERSION,
    arch: vae.arch,
    config: vae.config,
    codebook,
    layout,
    beta,
    image: { ...geo.image },
    latent: { ...geo.latent },
    downsamplingFactor: geo.factor,
    tokensPerPosition,
    tokensPerImage,
    bitsPerToken,
    bitsPerImage: tokensPerImage * bitsPerToken,
    bitsPerPixel: (tokensPerPosition * bitsPerToken) / (geo.factor * geo.factor),
  };
}

/** The core fields of a manifest, in canonical key order. */
export function manifestCore(manifest: ManifestCore): ManifestCore {
  const core: Record<string, unknown> = {};
  for (const key of coreKeys) core[key] = manifest[key];
  return core as unknown as ManifestCore;
}

/** SHA-256 over [u32 LE length of the canonical core JSON][that JSON][weights bytes]. */
export async function computeArtifactId(fn: string, core: ManifestCore, weights: Uint8Array): Promise<string> {
  const json = utf8Encode(canonicalJson(fn, manifestCore(core)));
  const length = new Uint8Array(4);
  new DataView(length.buffer).setUint32(0, json.byteLength, true);
  return sha256Hex(fn, concatBytes([length, json, weights]));
}

function bad(fn: string, what: string, got: unknown): never {
  throw new TokenizerError('bad-manifest', `${fn}: manifest ${what}, got ${describe(got)}`);
}

/** Validate a layout and β pair (shared by create and load). */
export function checkLayoutAndBeta(fn: string, code: string, layout: unknown, beta: unknown): void {
  if (layout !== 'strided' && layout !== 'contiguous') {
    throw new TokenizerError(code, `${fn}: layout must be 'strided' or 'contiguous', got ${describe(layout)}`);
  }
  if (typeof beta !== 'number' || !Number.isFinite(beta)) {
    throw new TokenizerError(code, `${fn}: beta must be a finite number, got ${describe(beta)}`);
  }
}

/** Validate the codebook entry of a manifest (structure only; the table itself lives in the weights). */
export function checkManifestCodebook(fn: string, value: unknown): ManifestCodebook {
  if (!isPlainObject(value)) bad(fn, 'codebook must be an object', value);
  const { method, size, dim } = value;
  if (typeof size !== 'number' || !isPowerOfTwo(size)) bad(fn, 'codebook.size K must be a power of two in [2, 2^31]', size);
  if (typeof dim !== 'number' || !Number.isSafeInteger(dim) || dim < 1 || dim > 32) bad(fn, 'codebook.dim m must be an integer in [1, 32]', dim);
  if (method === 'normal' || method === 'sobol' || method === 'torch-sobol') {
    const allowed = ['method', 'size', 'dim', 'seed', 'version'];
    const extra = Object.keys(value).filter((key) => !allowed.includes(key));
    if (extra.length > 0) bad(fn, `codebook of method '${method}' must have only ${allowed.join(', ')}`, extra.join(', '));
    const { seed, version } = value;
    if (typeof seed !== 'number' || !Number.isSafeInteger(seed) || seed < 0 || seed >= 2 ** 32) bad(fn, 'codebook.seed must be an integer in [0, 2^32)', seed);
    if (version !== CODEBOOK_VERSION) bad(fn, `codebook.version must be ${CODEBOOK_VERSION} (the generator this package implements)`, version);
    return { method, size, dim, seed, version };
  }
  if (method === 'table') {
    const allowed = ['method', 'size', 'dim', 'storage', 'key'];
    const extra = Object.keys(value).filter((key) => !allowed.includes(key));
    if (extra.length > 0) bad(fn, `codebook of method 'table' must have only ${allowed.join(', ')}`, extra.join(', '));
    if (value.storage !== 'weights') bad(fn, "codebook.storage must be 'weights'", value.storage);
    if (value.key !== CODEBOOK_WEIGHTS_KEY) bad(fn, `codebook.key must be '${CODEBOOK_WEIGHTS_KEY}'`, value.key);
    return { method, size, dim, storage: 'weights', key: CODEBOOK_WEIGHTS_KEY };
  }
  return bad(fn, "codebook.method must be 'sobol', 'normal', 'torch-sobol' or 'table'", method);
}

function checkFreeForm(fn: string, name: string, value: unknown): JsonObject | null {
  if (value === null) return null;
  if (!isPlainObject(value)) bad(fn, `${name} must be an object or null`, value);
  try {
    canonicalJson(fn, value, name);
  } catch (error) {
    throw new TokenizerError('bad-manifest', (error as Error).message, { cause: error });
  }
  return value as JsonObject;
}

function sizeTriple(fn: string, name: string, value: unknown): { height: number; width: number; channels: number } {
  if (!isPlainObject(value)) bad(fn, `${name} must be an object {height, width, channels}`, value);
  const extra = Object.keys(value).filter((key) => !['height', 'width', 'channels'].includes(key));
  if (extra.length > 0) bad(fn, `${name} must have only height, width, channels`, extra.join(', '));
  for (const key of ['height', 'width', 'channels'] as const) {
    const v = value[key];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) bad(fn, `${name}.${key} must be a positive integer`, v);
  }
  return value as { height: number; width: number; channels: number };
}

/**
 * Parse (if a string) and validate a manifest: every field present with the right type, no unknown
 * fields, the config valid for its architecture, and every derived field (latent grid, G, rates)
 * equal to what the config, image size and codebook imply.
 * @throws TokenizerError `bad-manifest`, `bad-version`, `bad-config`, `bad-arch`, `codebook-mismatch`, `manifest-mismatch`
 */
export function resolveManifest(fn: string, source: unknown): ResolvedManifest {
  let value = source;
  if (typeof source === 'string') {
    try {
      value = JSON.parse(source) as unknown;
    } catch (error) {
      throw new TokenizerError('bad-manifest', `${fn}: manifest must be JSON, got a parse error (${(error as Error).message})`);
    }
  }
  if (!isPlainObject(value)) bad(fn, 'must be an object', value);
  const missing = manifestKeys.filter((key) => !(key in value));
  if (missing.length > 0) bad(fn, `must have the fields ${manifestKeys.join(', ')}; missing ${missing.join(', ')}`, Object.keys(value).join(', '));
  const extra = Object.keys(value).filter((key) => !(manifestKeys as readonly string[]).includes(key));
  if (extra.length > 0) bad(fn, `must have only the fields ${manifestKeys.join(', ')}`, `unknown ${extra.join(', ')}`);
  if (value.format !== MANIFEST_FORMAT) bad(fn, `format must be '${MANIFEST_FORMAT}'`, value.format);
  if (value.formatVersion !== MANIFEST_VERSION) {
    throw new TokenizerError('bad-version', `${fn}: manifest formatVersion must be ${MANIFEST_VERSION}, got ${describe(value.formatVersion)}`);
  }
  const vae = normalizeVae(fn, value.arch, value.config);
  const codebook = checkManifestCodebook(fn, value.codebook);
  checkLayoutAndBeta(fn, 'bad-manifest', value.layout, value.beta);
  const image = sizeTriple(fn, 'image', value.image);
  sizeTriple(fn, 'latent', value.latent);
  const geo = geometry(fn, vae, image.height, image.width);
  if (image.channels !== geo.image.channels) {
    throw new TokenizerError('manifest-mismatch', `${fn}: manifest image.channels must equal the ${vae.arch} config's ${geo.image.channels}, got ${image.channels}`);
  }
  if (geo.latent.channels % codebook.dim !== 0) {
    throw new TokenizerError(
      'codebook-mismatch',
      `${fn}: codebook dim m=${codebook.dim} must divide the latent channels C=${geo.latent.channels} of the ${vae.arch} config`,
    );
  }
  if (typeof value.artifactId !== 'string' || !/^[0-9a-f]{64}$/.test(value.artifactId)) {
    bad(fn, 'artifactId must be 64 lower-case hex digits (SHA-256)', value.artifactId);
  }
  const training = checkFreeForm(fn, 'training', value.training);
  const metrics = checkFreeForm(fn, 'metrics', value.metrics);
  const packages = value.packages;
  if (!isPlainObject(packages) || !Object.values(packages).every((v) => typeof v === 'string')) {
    bad(fn, 'packages must map package names to version strings', packages);
  }
  const expected = buildCore(vae, codebook, value.layout as LatentLayout, value.beta as number, geo);
  for (const key of ['latent', 'downsamplingFactor', 'tokensPerPosition', 'tokensPerImage', 'bitsPerToken', 'bitsPerImage', 'bitsPerPixel'] as const) {
    const want = canonicalJson(fn, expected[key]);
    const got = canonicalJson(fn, value[key] as unknown, key);
    if (want !== got) {
      throw new TokenizerError('manifest-mismatch', `${fn}: manifest ${key} must be ${want} for this config, image size and codebook, got ${got}`);
    }
  }
  const manifest: TokenizerManifest = {
    ...expected,
    artifactId: value.artifactId as string,
    training,
    metrics,
    packages: { ...(packages as Record<string, string>) },
  };
  return { manifest, vae, geometry: geo };
}
