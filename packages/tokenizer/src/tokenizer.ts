import * as tf from '@tensorflow/tfjs-core';
import {
  codebookFromValues,
  codebookSpec,
  createCodebook,
  dequantizeRows,
  gqQuantize,
  type Codebook,
  type CodebookSpec,
} from '@gq/codebook';
import { isGqError, tokensToLatentRows, type LatentLayout } from '@gq/core';
import { disposeParams, type ParamTree, type WeightEntry } from '@gq/nn';
import { parseSafetensors, serializeSafetensors, type SafetensorsEntry } from '@gq/safetensors';
import type { UnetConfig } from '@gq/vae-unet';
import type { VitConfig } from '@gq/vae-vit';
import { asBytes, canonicalJson, describe, isPlainObject } from './bytes.js';
import { unpackArtifact, type TokenizerArtifact } from './container.js';
import { TokenizerError, rethrow } from './errors.js';
import {
  CODEBOOK_WEIGHTS_KEY,
  buildCore,
  checkLayoutAndBeta,
  computeArtifactId,
  resolveManifest,
  type JsonObject,
  type ManifestCodebook,
  type ManifestCore,
  type TokenizerManifest,
} from './manifest.js';
import {
  checkVaeParams,
  geometry,
  nativeImageSize,
  normalizeVae,
  vaeDecode,
  vaeEncode,
  vaeExport,
  vaeImport,
  vaeSpecs,
  type Geometry,
  type VaeArch,
  type VaeDescription,
} from './vae.js';

/** Token indices of a batch of images. */
export interface Tokens {
  /** Row-major [B, h, w, G] int32 codeword indices in [0, K). */
  readonly indices: Int32Array;
  /** [B, h, w, G]: images, latent grid (ViT: patch grid), tokens per position. */
  readonly shape: readonly [number, number, number, number];
  /** log2 K. */
  readonly bitsPerToken: number;
}

export interface TokenizerCreateOptions {
  readonly arch: VaeArch;
  readonly config: UnetConfig | VitConfig;
  /** Parameter tree (@gq/vae-unet / @gq/vae-vit `init` or trained). The tokenizer keeps its own references (tf.clone); the caller keeps ownership of these tensors. */
  readonly params: ParamTree;
  /** A codebook object (generated or `codebookFromValues`) or a generator spec {size, dim, seed?, method?}. */
  readonly codebook: Codebook | CodebookSpec;
  /** Channel grouping of tokens (default `'strided'`, the reference's). */
  readonly layout?: LatentLayout;
  /** GQ prior weight β (default 1). */
  readonly beta?: number;
  /** Image side(s) the tokenizer is built for: a number (square) or [height, width]; default the config's resolution/imageSize. */
  readonly imageSize?: number | readonly [number, number];
}

/** Where `Tokenizer.load` reads a tokenizer from: a `.gqtok` container, or the two files of an artifact directory. */
export type TokenizerSource =
  | Uint8Array
  | ArrayBuffer
  | { readonly manifest: TokenizerManifest | object | string; readonly weights: Uint8Array | ArrayBuffer };

export interface LoadOptions {
  /** Recompute the artifact id (SHA-256 of manifest core and weights) and reject a mismatch (default true). */
  readonly verify?: boolean;
  /**
   * Budgets checked against the manifest and the weights before anything is allocated; an
   * exceeded one is a `too-large` error naming it, its limit and the value seen.
   */
  readonly limits?: TokenizerLimits;
}

/** Resource budgets of `Tokenizer.load` (every field optional; defaults below). */
export interface TokenizerLimits {
  /** Codebook size K·m, in numbers. Default 2^24 (64 MiB of float32). */
  readonly maxCodebookEntries?: number;
  /** Parameters of the VAE, in numbers. Default 2^28 (1 GiB of float32). */
  readonly maxParameters?: number;
  /** Pixels H·W of the image size the manifest declares. Default 2048² (4 194 304). */
  readonly maxImagePixels?: number;
}

const defaultLimits: Required<TokenizerLimits> = { maxCodebookEntries: 2 ** 24, maxParameters: 2 ** 28, maxImagePixels: 2048 * 2048 };

function resolveLimits(fn: string, limits: unknown): Required<TokenizerLimits> {
  if (limits === undefined) return defaultLimits;
  if (!isPlainObject(limits)) throw new TokenizerError('bad-options', `${fn}: options.limits must be an object, got ${describe(limits)}`);
  const out: Record<string, number> = { ...defaultLimits };
  for (const [name, value] of Object.entries(limits)) {
    if (!(name in defaultLimits)) throw new TokenizerError('bad-options', `${fn}: options.limits has no budget '${name}' (${Object.keys(defaultLimits).join(', ')})`);
    if (value === undefined) continue;
    if (!Number.isSafeInteger(value) || (value as number) < 0) throw new TokenizerError('bad-options', `${fn}: options.limits.${name} must be a non-negative integer, got ${describe(value)}`);
    out[name] = value as number;
  }
  return out as Required<TokenizerLimits>;
}

function overBudget(fn: string, budget: keyof TokenizerLimits, what: string, value: number, limit: number): never {
  throw new TokenizerError('too-large', `${fn}: limits.${budget}: ${what} is ${value}, more than the limit of ${limit}`);
}

export interface ImageCheckOptions {
  /**
   * Reject images with non-finite values or values outside [−1.01, 1.01] (default true): images in
   * [0, 255] or [0, 1] are the usual mistake, and the encoder would silently produce garbage.
   */
  readonly checkRange?: boolean;
}

export interface ToArtifactOptions {
  /** Free-form JSON training summary stored in the manifest (not part of the artifact id). */
  readonly training?: JsonObject;
  /** Free-form JSON evaluation metrics stored in the manifest (not part of the artifact id); finite numbers only. */
  readonly metrics?: JsonObject;
  /** Package name → version of whatever produced the artifact (e.g. the training app's dependencies). */
  readonly packages?: { readonly [name: string]: string };
}

/** Artifact ids computed by `toArtifact` for tokenizers made in memory. */
const knownArtifactIds = new WeakMap<Tokenizer, string>();

const rangeLimit = 1.01;

function toCodebook(fn: string, source: unknown): { codebook: Codebook; entry: ManifestCodebook } {
  if (typeof source !== 'object' || source === null) {
    throw new TokenizerError('bad-codebook', `${fn}: codebook must be a Codebook or a spec {size, dim, seed, method}, got ${describe(source)}`);
  }
  try {
    const record = source as Record<string, unknown>;
    const codebook = record.values instanceof Float32Array
      ? (source as Codebook)
      : createCodebook(source as CodebookSpec);
    if (codebook.values.length !== codebook.size * codebook.dim) {
      throw new TokenizerError('bad-codebook', `${fn}: codebook values must hold K·m = ${codebook.size * codebook.dim} numbers, got ${codebook.values.length}`);
    }
    const spec = codebookSpec(codebook);
    if (spec === null) {
      // Re-validate a caller-built table (finite values, power-of-two K) through @gq/codebook.
      const table = codebookFromValues(codebook.values, codebook.size, codebook.dim);
      return { codebook: table, entry: { method: 'table', size: table.size, dim: table.dim, storage: 'weights', key: CODEBOOK_WEIGHTS_KEY } };
    }
    return { codebook: createCodebook(spec), entry: { ...spec } };
  } catch (error) {
    rethrow(fn, 'bad-codebook', error);
  }
}

function imageSizeOf(fn: string, vae: VaeDescription, size: TokenizerCreateOptions['imageSize']): [number, number] {
  if (size === undefined) {
    const side = nativeImageSize(vae);
    return [side, side];
  }
  if (typeof size === 'number') return [size, size];
  if (Array.isArray(size) && size.length === 2) return [size[0] as number, size[1] as number];
  throw new TokenizerError('bad-image-size', `${fn}: imageSize must be a number or [height, width], got ${describe(size)}`);
}

function checkImages(fn: string, tokenizerGeometry: Geometry, vae: VaeDescription, images: unknown): tf.Tensor4D {
  if (!(images instanceof tf.Tensor)) throw new TokenizerError('bad-input', `${fn}: images must be a tf.Tensor [B, H, W, C], got ${describe(images)}`);
  const channels = tokenizerGeometry.image.channels;
  if (images.rank !== 4 || images.dtype !== 'float32' || images.shape[3] !== channels || images.shape[0] === 0) {
    throw new TokenizerError('bad-input', `${fn}: images must be float32 [B, H, W, ${channels}] with B ≥ 1, got ${images.dtype} [${images.shape.join(',')}]`);
  }
  geometry(fn, vae, images.shape[1]!, images.shape[2]!);
  return images as tf.Tensor4D;
}

async function checkImageRange(fn: string, images: tf.Tensor4D): Promise<void> {
  const data = await images.data();
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (!(v >= -rangeLimit && v <= rangeLimit)) {
      const [, h, w, c] = images.shape;
      const b = Math.floor(i / (h * w * c));
      const y = Math.floor(i / (w * c)) % h;
      const x = Math.floor(i / c) % w;
      throw new TokenizerError(
        Number.isFinite(v) ? 'bad-range' : 'non-finite',
        `${fn}: images must be finite values in [-1, 1], got ${v} at (b=${b}, y=${y}, x=${x}, c=${i % c})${Number.isFinite(v) ? ' (scale [0,255] or [0,1] images to [-1,1] first)' : ''}`,
      );
    }
  }
}

/**
 * A GQ tokenizer: a Gaussian VAE (UNet or ViT) and a Gaussian codebook. Images become
 * h·w·G indices of log2 K bits by GQ selection on the encoder's posterior (β from the tokenizer,
 * σ from the encoder); indices decode through the codebook and the VAE decoder.
 * The tokenizer owns its parameter tensors: call `dispose()` when done.
 */
export class Tokenizer {
  readonly arch: VaeArch;
  readonly config: UnetConfig | VitConfig;
  readonly codebook: Codebook;
  readonly layout: LatentLayout;
  readonly beta: number;
  /** Image size and channels the tokenizer was built for. */
  readonly image: Geometry['image'];
  /** Latent grid at that image size, and latent channels C. */
  readonly latent: Geometry['latent'];
  /** f. */
  readonly downsamplingFactor: number;
  /** G = C/m. */
  readonly tokensPerPosition: number;
  /** log2 K. */
  readonly bitsPerToken: number;
  /** G·log2 K / f². */
  readonly bitsPerPixel: number;
  readonly #vae: VaeDescription;
  readonly #codebookEntry: ManifestCodebook;
  readonly #params: Record<string, tf.Tensor>;
  readonly #manifest: TokenizerManifest | null;
  #disposed = false;

  private constructor(
    vae: VaeDescription,
    geo: Geometry,
    codebook: Codebook,
    codebookEntry: ManifestCodebook,
    layout: LatentLayout,
    beta: number,
    params: Record<string, tf.Tensor>,
    manifest: TokenizerManifest | null,
  ) {
    this.#vae = vae;
    this.arch = vae.arch;
    this.config = vae.config;
    this.codebook = codebook;
    this.#codebookEntry = codebookEntry;
    this.layout = layout;
    this.beta = beta;
    this.image = geo.image;
    this.latent = geo.latent;
    this.downsamplingFactor = geo.factor;
    this.tokensPerPosition = geo.latent.channels / codebook.dim;
    this.bitsPerToken = 31 - Math.clz32(codebook.size);
    this.bitsPerPixel = (this.tokensPerPosition * this.bitsPerToken) / (geo.factor * geo.factor);
    this.#params = params;
    this.#manifest = manifest;
  }

  /**
   * A tokenizer from parameters in memory (e.g. at the end of training).
   * @throws TokenizerError `bad-arch`, `bad-config`, `bad-params`, `bad-codebook`, `codebook-mismatch`, `bad-image-size`, `bad-options`
   */
  static create(options: TokenizerCreateOptions): Tokenizer {
    const fn = 'Tokenizer.create';
    if (!isPlainObject(options)) throw new TokenizerError('bad-options', `${fn}: options must be an object, got ${describe(options)}`);
    const vae = normalizeVae(fn, options.arch, options.config);
    const layout = options.layout ?? 'strided';
    const beta = options.beta ?? 1;
    checkLayoutAndBeta(fn, 'bad-options', layout, beta);
    const [height, width] = imageSizeOf(fn, vae, options.imageSize);
    const geo = geometry(fn, vae, height, width);
    const { codebook, entry } = toCodebook(fn, options.codebook);
    if (geo.latent.channels % codebook.dim !== 0) {
      throw new TokenizerError('codebook-mismatch', `${fn}: codebook dim m=${codebook.dim} must divide the latent channels C=${geo.latent.channels}`);
    }
    if (!isPlainObject(options.params)) throw new TokenizerError('bad-params', `${fn}: params must be a parameter tree object, got ${describe(options.params)}`);
    checkVaeParams(fn, vae, options.params);
    const params: Record<string, tf.Tensor> = {};
    // Clones share storage with the caller's tensors; a later assign() to a caller's tf.Variable
    // swaps the variable's storage, so this tokenizer keeps the values it was created with.
    for (const spec of vaeSpecs(vae)) params[spec.name] = tf.clone(options.params[spec.name]!);
    return new Tokenizer(vae, geo, codebook, entry, layout, beta, params, null);
  }

  /**
   * Load a tokenizer artifact: a `.gqtok` container, or `{manifest, weights}` (object or JSON text,
   * safetensors bytes). Validates the manifest, the artifact id (unless `verify: false`), the
   * codebook and every weight.
   * @throws TokenizerError `bad-magic`, `bad-version`, `truncated`, `length-mismatch`, `checksum-mismatch`,
   *   `bad-manifest`, `manifest-mismatch`, `codebook-mismatch`, `artifact-id-mismatch`, `bad-weights`, …
   */
  static async load(source: TokenizerSource, options: LoadOptions = {}): Promise<Tokenizer> {
    try {
      return await Tokenizer.#load(source, options);
    } catch (error) {
      if (isGqError(error)) rethrow('Tokenizer.load', 'bad-artifact', error);
      // Every input is validated; this keeps an unforeseen failure (an engine error) typed.
      throw new TokenizerError('bad-artifact', `Tokenizer.load: the artifact could not be loaded (${error instanceof Error ? error.message : String(error)})`, { cause: error });
    }
  }

  static async #load(source: TokenizerSource, options: LoadOptions): Promise<Tokenizer> {
    const fn = 'Tokenizer.load';
    if (!isPlainObject(options)) throw new TokenizerError('bad-options', `${fn}: options must be an object, got ${describe(options)}`);
    const limits = resolveLimits(fn, options.limits);
    let manifestSource: unknown;
    let weightsSource: unknown;
    if (source instanceof Uint8Array || source instanceof ArrayBuffer || ArrayBuffer.isView(source)) {
      const artifact = unpackArtifact(asBytes(fn, 'source', source));
      manifestSource = artifact.manifestJson;
      weightsSource = artifact.weights;
    } else if (isPlainObject(source)) {
      manifestSource = source.manifest;
      weightsSource = source.weights;
    } else {
      throw new TokenizerError('bad-input', `${fn}: source must be .gqtok bytes or {manifest, weights}, got ${describe(source)}`);
    }
    const { manifest, vae, geometry: geo } = resolveManifest(fn, manifestSource);
    const entry = manifest.codebook;
    // Bounds on what the manifest declares, before anything is generated or allocated from it.
    const codebookEntries = entry.size * entry.dim;
    if (codebookEntries > limits.maxCodebookEntries) overBudget(fn, 'maxCodebookEntries', `the codebook K·m = ${entry.size}·${entry.dim}`, codebookEntries, limits.maxCodebookEntries);
    const pixels = geo.image.height * geo.image.width;
    if (pixels > limits.maxImagePixels) overBudget(fn, 'maxImagePixels', `the image size ${geo.image.height}×${geo.image.width}`, pixels, limits.maxImagePixels);
    const weights = asBytes(fn, 'weights', weightsSource);
    if (options.verify ?? true) {
      const id = await computeArtifactId(fn, manifest, weights);
      if (id !== manifest.artifactId) {
        throw new TokenizerError(
          'artifact-id-mismatch',
          `${fn}: manifest artifactId must equal the SHA-256 of its core and the weights, got ${manifest.artifactId} but computed ${id} (the weights or manifest were changed)`,
        );
      }
    }
    let tensors: Map<string, SafetensorsEntry>;
    try {
      tensors = new Map(parseSafetensors(weights).tensors);
    } catch (error) {
      rethrow(fn, 'bad-weights', error);
    }
    let codebook: Codebook;
    if (entry.method === 'table') {
      const stored = tensors.get(entry.key);
      if (stored === undefined || stored.dtype !== 'F32' || stored.shape.length !== 2 || stored.shape[0] !== entry.size || stored.shape[1] !== entry.dim) {
        const got = stored === undefined ? 'no such tensor' : `${stored.dtype} [${stored.shape.join(',')}]`;
        throw new TokenizerError('codebook-mismatch', `${fn}: weights must hold the codebook '${entry.key}' as F32 [${entry.size},${entry.dim}], got ${got}`);
      }
      try {
        codebook = codebookFromValues(stored.data as Float32Array, entry.size, entry.dim);
      } catch (error) {
        rethrow(fn, 'codebook-mismatch', error);
      }
      tensors.delete(entry.key);
    } else {
      codebook = createCodebook(entry);
    }
    // The config's sizes are bounded (normalizeVae), so its specs are few; the model size is
    // checked before any tensor is built, and vaeImport compares every weight with its spec.
    let parameters = 0;
    for (const spec of vaeSpecs(vae)) parameters += spec.torchShape.reduce((a, b) => a * b, 1);
    if (parameters > limits.maxParameters) overBudget(fn, 'maxParameters', `the ${vae.arch} config's parameter count`, parameters, limits.maxParameters);
    const params = vaeImport(fn, vae, tensors as ReadonlyMap<string, WeightEntry>);
    return new Tokenizer(vae, geo, codebook, entry, manifest.layout, manifest.beta, params, manifest);
  }

  /** The artifact id: from the loaded manifest, or from the last `toArtifact`; null before that. */
  get artifactId(): string | null {
    return this.#manifest?.artifactId ?? knownArtifactIds.get(this) ?? null;
  }

  /** The manifest the tokenizer was loaded from, or null for one made with `create`. */
  get manifest(): TokenizerManifest | null {
    return this.#manifest;
  }

  /** The parameter tree (owned by the tokenizer; do not dispose or modify). */
  get params(): ParamTree {
    this.#check('Tokenizer.params');
    return this.#params;
  }

  get disposed(): boolean {
    return this.#disposed;
  }

  /** The manifest core: what determines this tokenizer's function. */
  describe(): ManifestCore {
    return buildCore(this.#vae, this.#codebookEntry, this.layout, this.beta, {
      image: this.image,
      latent: this.latent,
      factor: this.downsamplingFactor,
    });
  }

  #check(fn: string): void {
    if (this.#disposed) throw new TokenizerError('disposed', `${fn}: the tokenizer must not be disposed, got a disposed tokenizer`);
  }

  /**
   * Posterior moments of images, in the VAE's native latent layout.
   * @param images float32 [B, H, W, C_img] in [−1, 1]
   * @returns mu and logVar (clamped to [−30, 20]): UNet [B, h, w, C], ViT [B, L, C]; the caller disposes both
   */
  async encodeMoments(images: tf.Tensor4D, options: ImageCheckOptions = {}): Promise<{ mu: tf.Tensor; logVar: tf.Tensor }> {
    const fn = 'Tokenizer.encodeMoments';
    this.#check(fn);
    const x = checkImages(fn, this.#geometry(), this.#vae, images);
    if (options.checkRange ?? true) await checkImageRange(fn, x);
    return vaeEncode(fn, this.#vae, this.#params, x);
  }

  /**
   * GQ tokens of images: for each of the h·w·G tokens, the codeword maximising
   * Σ_d ln N(c_d; μ_d, σ_d²) − β ln N(c_d; 0, 1) (docs/algorithms.md §3), via @gq/codebook's gqQuantize.
   * @param images float32 [B, H, W, C_img] in [−1, 1]; UNet: H, W multiples of f; ViT: the configured size
   */
  async encode(images: tf.Tensor4D, options: ImageCheckOptions = {}): Promise<Tokens> {
    const fn = 'Tokenizer.encode';
    const { mu, logVar } = await this.encodeMoments(images, options);
    let quantized: { indices: tf.Tensor; zq: tf.Tensor };
    try {
      quantized = await gqQuantize(mu, logVar, this.codebook, { beta: this.beta, layout: this.layout });
    } catch (error) {
      const code = (error as { code?: unknown }).code === 'non-finite' ? 'non-finite' : 'quantize-failed';
      rethrow(fn, code, error);
    } finally {
      mu.dispose();
      logVar.dispose();
    }
    try {
      const indices = new Int32Array(await quantized.indices.data());
      const [b, h, w] = images.shape;
      const f = this.downsamplingFactor;
      return { indices, shape: [b, h / f, w / f, this.tokensPerPosition], bitsPerToken: this.bitsPerToken };
    } finally {
      quantized.indices.dispose();
      quantized.zq.dispose();
    }
  }

  /**
   * Images from tokens: codewords (@gq/codebook dequantisation, same layout) through the decoder.
   * @returns float32 [B, h·f, w·f, C_img], raw decoder output (not clamped); the caller disposes it
   * @throws TokenizerError `bad-tokens`, `codebook-mismatch`, `index-out-of-range`, `bad-image-size`
   */
  async decode(tokens: Tokens): Promise<tf.Tensor4D> {
    const fn = 'Tokenizer.decode';
    this.#check(fn);
    const [b, h, w, g] = this.#checkTokens(fn, tokens);
    let rows: Float32Array;
    try {
      rows = tokensToLatentRows(dequantizeRows(tokens.indices, this.codebook), this.latent.channels, { dim: this.codebook.dim, layout: this.layout });
    } catch (error) {
      rethrow(fn, (error as { code?: unknown }).code === 'index-out-of-range' ? 'index-out-of-range' : 'bad-tokens', error);
    }
    const c = g * this.codebook.dim;
    const latent = this.arch === 'unet' ? tf.tensor4d(rows, [b, h, w, c]) : tf.tensor3d(rows, [b, h * w, c]);
    try {
      return vaeDecode(fn, this.#vae, this.#params, latent);
    } finally {
      latent.dispose();
    }
  }

  /**
   * Decode a latent given in the VAE's native layout (UNet [B, h, w, C], ViT [B, L, C]): decode(μ),
   * decode(μ + σε) for evaluation. The caller disposes the result.
   */
  decodeLatent(latent: tf.Tensor): tf.Tensor4D {
    const fn = 'Tokenizer.decodeLatent';
    this.#check(fn);
    if (!(latent instanceof tf.Tensor)) throw new TokenizerError('bad-input', `${fn}: latent must be a tf.Tensor, got ${describe(latent)}`);
    return vaeDecode(fn, this.#vae, this.#params, latent);
  }

  /** `decode(await encode(images))`: the VQ-VAE reconstruction x̂_GQ. The caller disposes the result. */
  async reconstruct(images: tf.Tensor4D, options: ImageCheckOptions = {}): Promise<tf.Tensor4D> {
    return this.decode(await this.encode(images, options));
  }

  /** Release the parameter tensors. Idempotent; any later call throws `disposed`. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    disposeParams(this.#params);
  }

  #geometry(): Geometry {
    return { image: this.image, latent: this.latent, factor: this.downsamplingFactor };
  }

  #checkTokens(fn: string, tokens: Tokens): [number, number, number, number] {
    if (!isPlainObject(tokens) || !(tokens.indices instanceof Int32Array) || !Array.isArray(tokens.shape)) {
      throw new TokenizerError('bad-tokens', `${fn}: tokens must be {indices: Int32Array, shape: [B,h,w,G], bitsPerToken}, got ${describe(tokens)}`);
    }
    const shape = tokens.shape;
    if (shape.length !== 4 || !shape.every((d) => Number.isSafeInteger(d) && d > 0)) {
      throw new TokenizerError('bad-tokens', `${fn}: tokens.shape must be four positive integers [B,h,w,G], got [${shape.join(',')}]`);
    }
    const [b, h, w, g] = shape;
    if (tokens.bitsPerToken !== this.bitsPerToken) {
      throw new TokenizerError('codebook-mismatch', `${fn}: tokens.bitsPerToken must be ${this.bitsPerToken} (K=${this.codebook.size}), got ${describe(tokens.bitsPerToken)}`);
    }
    if (g !== this.tokensPerPosition) {
      throw new TokenizerError('codebook-mismatch', `${fn}: tokens must have G=${this.tokensPerPosition} tokens per position, got shape [${shape.join(',')}]`);
    }
    if (this.arch === 'vit' && (h !== this.latent.height || w !== this.latent.width)) {
      throw new TokenizerError('bad-image-size', `${fn}: a ViT tokenizer's tokens must have the grid ${this.latent.height}×${this.latent.width}, got shape [${shape.join(',')}]`);
    }
    if (tokens.indices.length !== b * h * w * g) {
      throw new TokenizerError('bad-tokens', `${fn}: tokens.indices must have B·h·w·G = ${b * h * w * g} entries for shape [${shape.join(',')}], got ${tokens.indices.length}`);
    }
    return [b, h, w, g];
  }
}

/**
 * Export a tokenizer as an artifact: manifest (object and JSON text) and safetensors weights with
 * the reference's key names (a 'table' codebook is added under `gq.codebook`, F32 [K, m]).
 * Also records the artifact id on the tokenizer (`tokenizer.artifactId`).
 * @throws TokenizerError `bad-options` (training/metrics not plain JSON with finite numbers), `disposed`
 */
export async function toArtifact(tokenizer: Tokenizer, options: ToArtifactOptions = {}): Promise<TokenizerArtifact> {
  const fn = 'toArtifact';
  if (!(tokenizer instanceof Tokenizer)) throw new TokenizerError('bad-input', `${fn}: tokenizer must be a Tokenizer, got ${describe(tokenizer)}`);
  const training = options.training ?? null;
  const metrics = options.metrics ?? null;
  const packages = options.packages ?? {};
  for (const [name, value] of [['training', training], ['metrics', metrics], ['packages', packages]] as const) {
    if (value !== null && !isPlainObject(value)) throw new TokenizerError('bad-options', `${fn}: options.${name} must be a plain object, got ${describe(value)}`);
    try {
      canonicalJson(fn, value, name);
    } catch (error) {
      throw new TokenizerError('bad-options', (error as Error).message, { cause: error });
    }
  }
  if (!Object.values(packages).every((v) => typeof v === 'string')) {
    throw new TokenizerError('bad-options', `${fn}: options.packages must map package names to version strings, got ${JSON.stringify(packages)}`);
  }
  const core = tokenizer.describe();
  const arch = normalizeVae(fn, tokenizer.arch, tokenizer.config);
  let weights = await vaeExport(fn, arch, tokenizer.params);
  if (core.codebook.method === 'table') {
    const file = parseSafetensors(weights);
    const record: Record<string, SafetensorsEntry> = Object.fromEntries(file.tensors);
    record[CODEBOOK_WEIGHTS_KEY] = { dtype: 'F32', shape: [tokenizer.codebook.size, tokenizer.codebook.dim], data: tokenizer.codebook.values };
    weights = serializeSafetensors(record, file.metadata);
  }
  const artifactId = await computeArtifactId(fn, core, weights);
  const manifest: TokenizerManifest = {
    ...core,
    artifactId,
    training: training as JsonObject | null,
    metrics: metrics as JsonObject | null,
    packages: { ...packages },
  };
  knownArtifactIds.set(tokenizer, artifactId);
  return { manifest, manifestJson: JSON.stringify(manifest, null, 2), weights };
}
