import type * as tf from '@tensorflow/tfjs-core';
import type { Codebook, CodebookSpec } from '@gq/codebook';
import * as unet from '@gq/vae-unet';
import * as vit from '@gq/vae-vit';
import { asBytes, describe, isPlainObject } from './bytes.js';
import { TokenizerError, rethrow } from './errors.js';
import { Tokenizer, type TokenizerCreateOptions } from './tokenizer.js';
import { normalizeVae, type VaeDescription } from './vae.js';

/** The seed the reference implementation's regulariser uses unless configured otherwise. */
const REFERENCE_CODEBOOK_SEED = 42;

/** Options of `tokenizerFromReference`. */
export interface ReferenceTokenizerOptions {
  readonly arch: TokenizerCreateOptions['arch'];
  /** The VAE config; from the reference's YAML with `unetConfigFromReference` / `vitConfigFromReference`. */
  readonly config: TokenizerCreateOptions['config'];
  /**
   * The reference's weights: a PyTorch (Lightning) checkpoint (`.ckpt`, `.pt`; a zip, read without
   * running any of its pickle) or safetensors bytes, with the reference's `encoder.*` / `decoder.*`
   * key names. Other top-level keys (loss, discriminator, regulariser state) are ignored.
   */
  readonly weights: Uint8Array | ArrayBuffer;
  /**
   * The regulariser's codebook: `size` K = its `n_samples` (`codebook_size`), `dim` m = its `group`
   * (`dim`); `seed` defaults to 42 and `method` to `'torch-sobol'`, the reference's own table, so
   * the tokens are the reference's token ids. A `Codebook` object is used as given.
   */
  readonly codebook: Codebook | CodebookSpec;
  /** Channel grouping of tokens (default `'strided'`, the reference's). */
  readonly layout?: TokenizerCreateOptions['layout'];
  /** GQ prior weight β (default 1, the reference's). */
  readonly beta?: number;
  /** Image side(s), as in `Tokenizer.create` (default the config's resolution/imageSize). */
  readonly imageSize?: TokenizerCreateOptions['imageSize'];
}

/** A zip archive (what `torch.save` writes) starts with a local file header, "PK\x03\x04". */
function isZip(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04;
}

function importReferenceWeights(fn: string, vae: VaeDescription, bytes: Uint8Array): Record<string, tf.Tensor> {
  const ignore = (name: string): boolean => !name.startsWith('encoder.') && !name.startsWith('decoder.');
  try {
    if (isZip(bytes)) {
      return vae.arch === 'unet' ? unet.importCheckpoint(vae.config, bytes) : vit.importCheckpoint(vae.config, bytes);
    }
    return vae.arch === 'unet' ? unet.importWeights(vae.config, bytes, { ignore }) : vit.importWeights(vae.config, bytes, { ignore });
  } catch (error) {
    rethrow(fn, 'bad-weights', error);
  }
}

function referenceCodebook(fn: string, codebook: unknown): Codebook | CodebookSpec {
  if (typeof codebook !== 'object' || codebook === null) {
    throw new TokenizerError('bad-codebook', `${fn}: codebook must be a Codebook or a spec {size, dim, seed?, method?}, got ${describe(codebook)}`);
  }
  const record = codebook as Record<string, unknown>;
  if (record.values instanceof Float32Array) return codebook as Codebook;
  const spec = codebook as CodebookSpec;
  return { ...spec, seed: spec.seed ?? REFERENCE_CODEBOOK_SEED, method: spec.method ?? 'torch-sobol' };
}

/**
 * A tokenizer from one of the reference implementation's checkpoints: its VAE weights, and by
 * default the reference's own codebook (`'torch-sobol'`, seed 42), so `encode` emits the token ids
 * the reference code emits for the same images (up to float32 near-ties in the encoder).
 * `toArtifact` then records the codebook as `{method: 'torch-sobol', seed, size, dim, version}`.
 *
 * @throws TokenizerError `bad-weights` (malformed file, missing or mis-shaped keys), `bad-arch`,
 *   `bad-config`, `bad-codebook`, `codebook-mismatch`, `bad-image-size`, `bad-options`
 */
export function tokenizerFromReference(options: ReferenceTokenizerOptions): Tokenizer {
  const fn = 'tokenizerFromReference';
  if (!isPlainObject(options)) throw new TokenizerError('bad-options', `${fn}: options must be an object, got ${describe(options)}`);
  const vae = normalizeVae(fn, options.arch, options.config);
  const codebook = referenceCodebook(fn, options.codebook);
  const params = importReferenceWeights(fn, vae, asBytes(fn, 'weights', options.weights));
  try {
    return Tokenizer.create({
      arch: vae.arch,
      config: vae.config,
      params,
      codebook,
      ...(options.layout === undefined ? {} : { layout: options.layout }),
      ...(options.beta === undefined ? {} : { beta: options.beta }),
      ...(options.imageSize === undefined ? {} : { imageSize: options.imageSize }),
    });
  } finally {
    // Tokenizer.create keeps its own references; these were ours.
    for (const tensor of Object.values(params)) tensor.dispose();
  }
}
