import type * as tf from '@tensorflow/tfjs-core';
import { LOG_VAR_MAX, LOG_VAR_MIN } from '@gq/core';
import { expectCodedError } from '@gq/test-utils';
import { TokenizerError } from '@gq/tokenizer';
import { init as initUnet, type UnetConfig } from '@gq/vae-unet';
import { init as initVit, type VitConfig } from '@gq/vae-vit';
import type { Codebook } from '@gq/codebook';

/** f = 2, attention at the 4×4 level, C = 4: every UNet block type at a size the cpu backend runs in milliseconds. */
export const tinyUnet: UnetConfig = { resolution: 8, inChannels: 3, outChannels: 3, ch: 8, chMult: [1, 2], numResBlocks: 1, attnResolutions: [4], zChannels: 4, numGroups: 4 };

/** 8×8 images, 4×4 patches (2×2 token grid), C = 4. */
export const tinyVit: VitConfig = { imageSize: 8, patchSize: 4, width: 16, layers: 1, heads: 2, mlpRatio: 2, zChannels: 4, dimFfnOutput: 16 };

export function unetParams(seed = 7): Record<string, tf.Tensor> {
  return initUnet(tinyUnet, seed);
}

export function vitParams(seed = 9): Record<string, tf.Tensor> {
  return initVit(tinyVit, seed);
}

export { bitDifferences, randomImages } from '@gq/test-utils';

/** Expect a TokenizerError with `code` and a message containing `text`. */
export function expectCode(run: () => unknown, code: string, text?: string): Promise<void> {
  return expectCodedError(run, TokenizerError, code, ...(text === undefined ? [] : [text]));
}

/** Channel of token g, dimension d (docs/algorithms.md §1). */
export function channelOf(layout: 'strided' | 'contiguous', g: number, d: number, groups: number, dim: number): number {
  return layout === 'strided' ? d * groups + g : g * dim + d;
}

/**
 * Float64 GQ oracle (docs/algorithms.md §3.1): per token, argmax_j Σ_d −(c−μ)²/(2σ²) + β c²/2 with
 * σ² = exp(clamp(ℓ, −30, 20)), written directly from the score (not the inner-product form).
 * Returns the winner and the gap to the runner-up, per token, in [positions, G] order.
 */
export function oracleSelect(
  mu: ArrayLike<number>,
  logVar: ArrayLike<number>,
  channels: number,
  codebook: Codebook,
  beta: number,
  layout: 'strided' | 'contiguous',
): { indices: Int32Array; gaps: Float64Array; scale: Float64Array } {
  const dim = codebook.dim;
  const groups = channels / dim;
  const positions = mu.length / channels;
  const indices = new Int32Array(positions * groups);
  const gaps = new Float64Array(positions * groups);
  const scale = new Float64Array(positions * groups);
  for (let p = 0; p < positions; p++) {
    for (let g = 0; g < groups; g++) {
      let best = -Infinity;
      let second = -Infinity;
      let bestIndex = -1;
      let bestMagnitude = 0;
      for (let j = 0; j < codebook.size; j++) {
        let score = 0;
        let magnitude = 0;
        for (let d = 0; d < dim; d++) {
          const ch = p * channels + channelOf(layout, g, d, groups, dim);
          const l = Math.min(LOG_VAR_MAX, Math.max(LOG_VAR_MIN, logVar[ch]!));
          const c = codebook.values[j * dim + d]!;
          const term = -((c - mu[ch]!) ** 2) / (2 * Math.exp(l)) + (beta * c * c) / 2;
          score += term;
          magnitude += Math.abs(term);
        }
        if (score > best) {
          second = best;
          best = score;
          bestIndex = j;
          bestMagnitude = magnitude;
        } else if (score > second) {
          second = score;
        }
      }
      indices[p * groups + g] = bestIndex;
      gaps[p * groups + g] = best - second;
      scale[p * groups + g] = bestMagnitude;
    }
  }
  return { indices, gaps, scale };
}

/**
 * Image 0 of a reference fixture's NCHW moments [B, 2C, h, w] as float64 rows [h·w, C]: μ is
 * channels 0..C−1, log σ² channels C..2C−1 (the reference's split).
 */
export function referenceMomentRows(moments: ArrayLike<number>, channels: number, height: number, width: number): { mu: Float64Array; logVar: Float64Array } {
  const plane = height * width;
  const mu = new Float64Array(plane * channels);
  const logVar = new Float64Array(plane * channels);
  for (let c = 0; c < channels; c++) {
    for (let p = 0; p < plane; p++) {
      mu[p * channels + c] = moments[c * plane + p]!;
      logVar[p * channels + c] = moments[(channels + c) * plane + p]!;
    }
  }
  return { mu, logVar };
}

/** Image 0 of a reference fixture's NCHW images [B, C, H, W] as NHWC float32 values [H·W·C]. */
export function referenceImageRows(images: ArrayLike<number>, channels: number, height: number, width: number): Float32Array {
  const plane = height * width;
  const out = new Float32Array(plane * channels);
  for (let c = 0; c < channels; c++) for (let p = 0; p < plane; p++) out[p * channels + c] = images[c * plane + p]!;
  return out;
}

/** How many tokens were compared with the oracle (its top-2 gap above `minGap`) and how many of those differ. */
export function oracleAgreement(indices: ArrayLike<number>, oracle: { indices: Int32Array; gaps: Float64Array }, minGap: number): { compared: number; mismatched: number } {
  let compared = 0;
  let mismatched = 0;
  for (let i = 0; i < oracle.indices.length; i++) {
    if (oracle.gaps[i]! > minGap) {
      compared++;
      if (indices[i] !== oracle.indices[i]) mismatched++;
    }
  }
  return { compared, mismatched };
}
