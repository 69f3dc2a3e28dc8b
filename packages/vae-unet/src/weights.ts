import { modelWeights } from '@gq/weights';
import { validateUnetConfig, type UnetConfig } from './config.js';
import { VaeUnetError } from './errors.js';
import { unetSpecs } from './specs.js';

export type { CheckpointImportOptions, ExportOptions, ImportOptions, WeightSource } from '@gq/weights';

/**
 * Weight import/export with the reference's state_dict names and PyTorch layouts: safetensors
 * bytes (`exportWeights`, `importWeights`) and Lightning `.ckpt` files (`importCheckpoint`).
 * Failures throw VaeUnetError ('bad-params', 'bad-weights', 'bad-config'); see @gq/weights' ModelWeights.
 */
export const { exportWeights, importWeights, importCheckpoint } = modelWeights<UnetConfig>({
  validate: validateUnetConfig,
  specs: unetSpecs,
  errorClass: VaeUnetError,
});
