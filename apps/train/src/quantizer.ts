import { bsq, fsq, lfq, tokenBridge, vq, type Quantizer } from '@gq/quantizers';
import { tokensPerPosition, type TrainConfig } from './config.js';

/**
 * The baseline quantiser of a run (VQ, FSQ, LFQ, BSQ), or TokenBridge's post-training per-channel
 * quantiser; `undefined` for the GQ methods (their codebook is fixed and lives in @gq/codebook).
 * `initialCodebook` rebuilds a trained VQ outside the replica (evaluation); without it VQ starts
 * from the seeded uniform(−1/K, 1/K) initialisation, identical in every replica.
 */
export function createQuantizer(config: TrainConfig, initialCodebook?: Float32Array): Quantizer<object> | undefined {
  const channels = config.model.zChannels;
  switch (config.method) {
    case 'vq':
      return vq({
        codebookSize: 2 ** config.codebookBits,
        dim: config.dim,
        channels,
        layout: config.layout,
        seed: config.seed,
        ...(initialCodebook !== undefined ? { initialCodebook } : {}),
      });
    case 'fsq':
      return fsq({ levels: config.levels });
    case 'lfq':
      return lfq({ channels, subCodebooks: tokensPerPosition(config) });
    case 'bsq':
      return bsq({ channels });
    case 'tokenbridge':
    case 'tokenbridge-tdc':
      return tokenBridge({ bits: config.codebookBits, channels, scale: config.tbScale, range: config.tbRange });
    default:
      return undefined;
  }
}

/** Methods that train through a quantiser (TokenBridge quantises only after training). */
export const trainsThroughQuantizer = (config: TrainConfig): boolean => ['vq', 'fsq', 'lfq', 'bsq'].includes(config.method);
