import { modelWeights } from '@gq/weights';
import { validateVitConfig, type VitConfig } from './config.js';
import { VaeVitError } from './errors.js';
import { vitSpecs } from './specs.js';

export type { CheckpointImportOptions, ExportOptions, ImportOptions, WeightSource } from '@gq/weights';

/**
 * Weight import/export with the reference's state_dict names and PyTorch layouts: safetensors
 * bytes (`exportWeights`, `importWeights`) and Lightning `.ckpt` files (`importCheckpoint`).
 * Failures throw VaeVitError ('bad-params', 'bad-weights', 'bad-config'); see @gq/weights' ModelWeights.
 */
export const { exportWeights, importWeights, importCheckpoint } = modelWeights<VitConfig>({
  validate: validateVitConfig,
  specs: vitSpecs,
  errorClass: VaeVitError,
});
