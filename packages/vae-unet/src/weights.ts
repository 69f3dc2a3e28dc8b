import type * as tf from '@tensorflow/tfjs-core';
import { readTorchCheckpoint, type ReadTorchCheckpointOptions } from '@gq/checkpoint';
import { formatWeightReport, isCleanReport, matchWeights, paramsToWeights, weightsToParams, type ParamTree, type WeightEntry } from '@gq/nn';
import { parseSafetensors, serializeSafetensors } from '@gq/safetensors';
import { validateUnetConfig, type UnetConfig } from './config.js';
import { VaeUnetError } from './errors.js';
import { unetSpecs } from './specs.js';

/** Safetensors bytes, or weights already read (e.g. a checkpoint's state_dict), keyed as the reference's state_dict. */
export type WeightSource = Uint8Array | ArrayBuffer | ReadonlyMap<string, WeightEntry>;

export interface ImportOptions {
  /** Keys to skip instead of reporting them as unexpected (e.g. a Lightning checkpoint's `loss.*`). */
  readonly ignore?: (name: string) => boolean;
}

export interface CheckpointImportOptions extends ImportOptions {
  /** Passed to @gq/checkpoint's readTorchCheckpoint (state-dict key, keys to skip, CRC check). */
  readonly checkpoint?: ReadTorchCheckpointOptions;
}

export interface ExportOptions {
  /** Extra safetensors `__metadata__` strings (`format: 'pt'` is always set). */
  readonly metadata?: Readonly<Record<string, string>>;
}

/**
 * Serialise a parameter tree to safetensors with the reference's key names, order and PyTorch
 * layouts (OIHW conv weights, [out, in] linear weights), float32.
 */
export async function exportWeights(config: UnetConfig, params: ParamTree, options: ExportOptions = {}): Promise<Uint8Array> {
  validateUnetConfig(config, 'exportWeights');
  let weights;
  try {
    weights = await paramsToWeights(params, unetSpecs(config));
  } catch (error) {
    throw new VaeUnetError('bad-params', `exportWeights: ${(error as Error).message}`);
  }
  return serializeSafetensors(weights, { ...options.metadata, format: 'pt' });
}

/**
 * Build a parameter tree from safetensors bytes or a map of weights with the reference's key
 * names and layouts. F32, F64, F16 and BF16 weights are converted to float32.
 * @throws VaeUnetError('bad-weights') listing every missing, unexpected or mis-shaped key;
 *   SafetensorsError for malformed bytes.
 */
export function importWeights(config: UnetConfig, source: WeightSource, options: ImportOptions = {}): Record<string, tf.Tensor> {
  validateUnetConfig(config, 'importWeights');
  const weights = source instanceof Map ? (source as ReadonlyMap<string, WeightEntry>) : parseSafetensors(source as Uint8Array | ArrayBuffer).tensors;
  const specs = unetSpecs(config);
  const report = matchWeights(weights, specs, options.ignore);
  if (!isCleanReport(report)) {
    throw new VaeUnetError('bad-weights', `importWeights: weights must match the config's state_dict, got ${formatWeightReport(report)}`);
  }
  return weightsToParams(weights, specs, options.ignore);
}

/**
 * Load a PyTorch Lightning `.ckpt` (zip + pickle of a `state_dict`, read without executing
 * anything by @gq/checkpoint). Keys outside `encoder.` / `decoder.` (loss, discriminator,
 * regulariser state) are ignored unless `options.ignore` says otherwise.
 * @throws CheckpointError for malformed or disallowed files; VaeUnetError('bad-weights') as importWeights.
 */
export function importCheckpoint(config: UnetConfig, bytes: Uint8Array | ArrayBuffer, options: CheckpointImportOptions = {}): Record<string, tf.Tensor> {
  const { tensors } = readTorchCheckpoint(bytes, options.checkpoint ?? {});
  const ignore = options.ignore ?? ((name: string) => !name.startsWith('encoder.') && !name.startsWith('decoder.'));
  return importWeights(config, tensors, { ignore });
}
