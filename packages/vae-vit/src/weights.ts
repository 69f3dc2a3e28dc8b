import { modelWeights } from '@gq/nn';
import { validateVitConfig, type VitConfig } from './config.js';
import { VaeVitError } from './errors.js';
import { vitSpecs } from './specs.js';

export type { CheckpointImportOptions, ExportOptions, ImportOptions, WeightSource } from '@gq/nn';

/**
 * Weight import/export with the reference's state_dict names and PyTorch layouts: safetensors
 * bytes (`exportWeights`, `importWeights`) and Lightning `.ckpt` files (`importCheckpoint`).
 * Failures throw VaeVitError ('bad-params', 'bad-weights', 'bad-config'); see @gq/nn's ModelWeights.
 */
export const { exportWeights, importWeights, importCheckpoint } = modelWeights<VitConfig>({
  validate: validateVitConfig,
  specs: vitSpecs,
  errorClass: VaeVitError,
});
