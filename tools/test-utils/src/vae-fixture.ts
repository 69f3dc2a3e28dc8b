import type { SafetensorsEntry } from '@gq/safetensors';
import { readFixtureBytes, readFixtureJson, readFixtureTensors } from './fixtures.js';

/** A reference VAE fixture folder (unet-tiny, vit-tiny): see its README for provenance. */
export interface VaeFixture {
  /** The reference constructors' keyword arguments. */
  readonly encoderParams: Record<string, unknown>;
  readonly decoderParams: Record<string, unknown>;
  /** The reference module's trainable scalars. */
  readonly parameterCount: { readonly encoder: number; readonly decoder: number; readonly total: number };
  /** The state_dict's keys and PyTorch shapes, in state_dict order. */
  readonly keys: [string, number[]][];
  /** Inputs and reference outputs (`x`, `z`, `moments_f64`, `dec_f64`, …). */
  readonly io: Map<string, SafetensorsEntry>;
  /** The reference weights as safetensors bytes. */
  readonly modelBytes: Uint8Array;
}

interface FixtureConfig {
  encoder: { params: Record<string, unknown> };
  decoder: { params: Record<string, unknown> };
  n_params_encoder: number;
  n_params_decoder: number;
}

export function readVaeFixture(folder: string): VaeFixture {
  const config = readFixtureJson<FixtureConfig>(folder, 'config.json');
  return {
    encoderParams: config.encoder.params,
    decoderParams: config.decoder.params,
    parameterCount: { encoder: config.n_params_encoder, decoder: config.n_params_decoder, total: config.n_params_encoder + config.n_params_decoder },
    keys: readFixtureJson<{ keys: [string, number[]][] }>(folder, 'keys.json').keys,
    io: readFixtureTensors(folder, 'io.safetensors'),
    modelBytes: readFixtureBytes(folder, 'model.safetensors'),
  };
}
