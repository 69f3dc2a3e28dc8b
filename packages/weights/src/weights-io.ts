import type * as tf from '@tensorflow/tfjs-core';
import { readTorchCheckpoint, type ReadTorchCheckpointOptions } from '@gq/checkpoint';
import type { GqErrorClass } from '@gq/core';
import { checkParams, type ParamSpec, type ParamTree, type WeightEntry } from '@gq/nn';
import { formatWeightReport, isCleanReport, matchWeights, paramsToWeights, weightsToParams } from '@gq/nn/internal';
import { parseSafetensors, serializeSafetensors } from '@gq/safetensors';
import { WeightsError } from './errors.js';

/** Safetensors bytes, or weights already read (e.g. a checkpoint's state_dict), keyed as the reference's state_dict. */
export type WeightSource = Uint8Array | ArrayBuffer | ReadonlyMap<string, WeightEntry>;

/** Options of `importParams` and `importWeights`. */
export interface ImportOptions {
  /** Keys to skip instead of reporting them as unexpected (e.g. a Lightning checkpoint's `loss.*`). */
  readonly ignore?: (name: string) => boolean;
}

/** Options of `importCheckpointParams` and `importCheckpoint`. */
export interface CheckpointImportOptions extends ImportOptions {
  /** Passed to @gq/checkpoint's readTorchCheckpoint (state-dict key, keys to skip, CRC check). */
  readonly checkpoint?: ReadTorchCheckpointOptions;
}

/** Options of `exportParams` and `exportWeights`. */
export interface ExportOptions {
  /** Extra safetensors `__metadata__` strings (`format: 'pt'` is always set). */
  readonly metadata?: Readonly<Record<string, string>>;
}

/** The public function on whose behalf a helper runs: named in messages; its package's error class is thrown. */
export interface Caller {
  readonly fn: string;
  /** The error class thrown for bad weights or parameters (default `WeightsError`). */
  readonly errorClass?: GqErrorClass;
}

/**
 * Serialise a parameter tree to safetensors with the specs' key names, order and PyTorch layouts
 * (OIHW conv weights, [out, in] linear weights), float32.
 * @throws caller's error class, code 'bad-params', when the tree does not match the specs
 */
export async function exportParams(
  params: ParamTree,
  specs: readonly ParamSpec[],
  options: ExportOptions = {},
  caller: Caller = { fn: 'exportParams' },
): Promise<Uint8Array> {
  checkParams(caller.fn, params, specs, caller.errorClass ?? WeightsError);
  const weights = await paramsToWeights(params, specs);
  return serializeSafetensors(weights, { ...options.metadata, format: 'pt' });
}

/**
 * Build a parameter tree from safetensors bytes or a map of weights with the specs' key names
 * and PyTorch layouts. F32, F64, F16 and BF16 weights are converted to float32. Returns new
 * tensors; the caller owns them.
 * @throws caller's error class, code 'bad-weights', listing every missing, unexpected or
 *   mis-shaped key (nothing is allocated then); SafetensorsError for malformed bytes.
 */
export function importParams(
  source: WeightSource,
  specs: readonly ParamSpec[],
  options: ImportOptions = {},
  caller: Caller = { fn: 'importParams' },
): Record<string, tf.Tensor> {
  const weights = source instanceof Map ? (source as ReadonlyMap<string, WeightEntry>) : parseSafetensors(source as Uint8Array | ArrayBuffer).tensors;
  const report = matchWeights(weights, specs, options.ignore);
  if (!isCleanReport(report)) {
    const ErrorType = caller.errorClass ?? WeightsError;
    throw new ErrorType('bad-weights', `${caller.fn}: weights must match the config's state_dict, got ${formatWeightReport(report)}`);
  }
  return weightsToParams(weights, specs, options.ignore);
}

/**
 * Load a PyTorch (Lightning) `.ckpt` (zip + pickle of a `state_dict`, read without executing
 * anything by @gq/checkpoint) into a parameter tree. Keys outside the specs' top-level modules
 * (for the VAEs, anything but `encoder.` / `decoder.`: loss, discriminator, regulariser state)
 * are ignored unless `options.ignore` says otherwise.
 * @throws CheckpointError for malformed or disallowed files; as `importParams` otherwise.
 */
export function importCheckpointParams(
  bytes: Uint8Array | ArrayBuffer,
  specs: readonly ParamSpec[],
  options: CheckpointImportOptions = {},
  caller: Caller = { fn: 'importCheckpointParams' },
): Record<string, tf.Tensor> {
  const { tensors } = readTorchCheckpoint(bytes, options.checkpoint ?? {});
  const modules = new Set(specs.map((spec) => spec.name.split('.')[0]!));
  const ignore = options.ignore ?? ((name: string) => !modules.has(name.split('.')[0]!));
  return importParams(tensors, specs, { ignore }, caller);
}

/** Weight import/export of one model family, bound to its config type, specs and error class. */
export interface ModelWeights<C> {
  /**
   * Serialise a parameter tree to safetensors with the reference's key names, order and PyTorch
   * layouts (OIHW conv weights, [out, in] linear weights), float32.
   * @throws the model's error, code 'bad-params', when the tree does not match the config (as a rejection).
   */
  exportWeights(config: C, params: ParamTree, options?: ExportOptions): Promise<Uint8Array>;
  /**
   * Build a parameter tree from safetensors bytes or a map of weights with the reference's key
   * names and layouts. F32, F64, F16 and BF16 weights are converted to float32.
   * @throws the model's error, code 'bad-weights', listing every missing, unexpected or mis-shaped
   *   key; SafetensorsError for malformed bytes.
   */
  importWeights(config: C, source: WeightSource, options?: ImportOptions): Record<string, tf.Tensor>;
  /**
   * Load a PyTorch Lightning `.ckpt` (zip + pickle of a `state_dict`, read without executing
   * anything by @gq/checkpoint). Keys outside the model's top-level modules (`encoder.` /
   * `decoder.`; loss, discriminator, regulariser state) are ignored unless `options.ignore` says otherwise.
   * @throws CheckpointError for malformed or disallowed files; the model's error as importWeights.
   */
  importCheckpoint(config: C, bytes: Uint8Array | ArrayBuffer, options?: CheckpointImportOptions): Record<string, tf.Tensor>;
}

/** What `modelWeights` needs to know about a model family. */
export interface ModelDescription<C> {
  /** Throws the model's error for an invalid config, naming `fn`. */
  validate(config: C, fn: string): void;
  /** The config's state_dict entries, in order. */
  specs(config: C): readonly ParamSpec[];
  /** The model package's error class, thrown for bad weights or parameters. */
  readonly errorClass: GqErrorClass;
}

/** `exportWeights` / `importWeights` / `importCheckpoint` for a model family (each VAE package exports these). */
export function modelWeights<C>(model: ModelDescription<C>): ModelWeights<C> {
  const { errorClass } = model;
  return {
    async exportWeights(config, params, options = {}) {
      model.validate(config, 'exportWeights');
      return exportParams(params, model.specs(config), options, { fn: 'exportWeights', errorClass });
    },
    importWeights(config, source, options = {}) {
      model.validate(config, 'importWeights');
      return importParams(source, model.specs(config), options, { fn: 'importWeights', errorClass });
    },
    importCheckpoint(config, bytes, options = {}) {
      model.validate(config, 'importCheckpoint');
      return importCheckpointParams(bytes, model.specs(config), options, { fn: 'importCheckpoint', errorClass });
    },
  };
}
