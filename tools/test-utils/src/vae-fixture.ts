import { readFixtureBytes, readFixtureJson, readFixtureTensors } from './fixtures.js';
import type { RawTensor, SafetensorsReader } from './tensor-file.js';

/** A reference VAE fixture folder (unet-tiny, vit-tiny): see its README for provenance. */
export interface VaeFixture<E extends RawTensor = RawTensor> {
  /** The reference constructors' keyword arguments. */
  readonly encoderParams: Record<string, unknown>;
  readonly decoderParams: Record<string, unknown>;
  /** The reference module's trainable scalars. */
  readonly parameterCount: { readonly encoder: number; readonly decoder: number; readonly total: number };
  /** The state_dict's keys and PyTorch shapes, in state_dict order. */
  readonly keys: [string, number[]][];
  /** Inputs and reference outputs (`x`, `z`, `moments_f64`, `dec_f64`, …). */
  readonly io: Map<string, E>;
  /** The reference weights as safetensors bytes. */
  readonly modelBytes: Uint8Array;
}

interface FixtureConfig {
  encoder: { params: Record<string, unknown> };
  decoder: { params: Record<string, unknown> };
  n_params_encoder: number;
  n_params_decoder: number;
}

/** Read a reference VAE fixture folder; `read` is @gq/safetensors' `parseSafetensors`. */
export function readVaeFixture<E extends RawTensor>(folder: string, read: SafetensorsReader<E>): VaeFixture<E> {
  const config = readFixtureJson<FixtureConfig>(folder, 'config.json');
  return {
    encoderParams: config.encoder.params,
    decoderParams: config.decoder.params,
    parameterCount: { encoder: config.n_params_encoder, decoder: config.n_params_decoder, total: config.n_params_encoder + config.n_params_decoder },
    keys: readFixtureJson<{ keys: [string, number[]][] }>(folder, 'keys.json').keys,
    io: readFixtureTensors(read, folder, 'io.safetensors'),
    modelBytes: readFixtureBytes(folder, 'model.safetensors'),
  };
}

/**
 * Largest |error| of `mu` and `logVar` (each C channels) against the 2C-channel `moments` they
 * were split from (μ = channels 0..C−1, log σ² = C..2C−1). All three are laid out as
 * [outer, channels, inner]: NCHW data has outer = B and inner = H·W, token data [B, L, C] has
 * outer = B·L and inner = 1.
 */
export function splitMomentsError(
  mu: ArrayLike<number>,
  logVar: ArrayLike<number>,
  moments: ArrayLike<number>,
  layout: { readonly outer: number; readonly channels: number; readonly inner: number },
): number {
  const { outer, channels, inner } = layout;
  let worst = 0;
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < channels; c++) {
      for (let i = 0; i < inner; i++) {
        const at = (o * channels + c) * inner + i;
        const muAt = (o * 2 * channels + c) * inner + i;
        const logVarAt = (o * 2 * channels + channels + c) * inner + i;
        worst = Math.max(worst, Math.abs(mu[at]! - moments[muAt]!), Math.abs(logVar[at]! - moments[logVarAt]!));
      }
    }
  }
  return worst;
}
