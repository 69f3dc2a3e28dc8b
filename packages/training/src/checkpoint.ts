import { parseSafetensors, serializeSafetensors, type SafetensorsEntry } from '@gq/safetensors';
import type { FileStore } from '@gq/runtime/files';
import type { ReplicaState } from '@gq/runtime/parallel';
import { addedConfigDefaults, type TrainConfig } from './config.js';
import { TrainError } from './errors.js';

export const checkpointFormat = 'gq-train-checkpoint';
export const checkpointVersion = 1;

export interface Checkpoint {
  readonly config: TrainConfig;
  /** Optimiser steps completed. */
  readonly step: number;
  readonly state: ReplicaState;
  /** Wall-clock seconds of training so far (for reports). */
  readonly seconds: number;
}

/**
 * Save everything a resume needs (weights, Adam slots, TDC state, step; data order and noise are
 * functions of the step) as one safetensors file, atomically: a crash mid-write keeps the old file.
 */
export function saveCheckpoint(files: FileStore, path: string, checkpoint: Checkpoint): void {
  const tensors: Record<string, SafetensorsEntry> = {};
  for (const [name, array] of Object.entries(checkpoint.state.arrays)) {
    tensors[name] = { dtype: array.data instanceof Int32Array ? 'I32' : 'F32', shape: [...array.shape], data: array.data };
  }
  const metadata = {
    format: checkpointFormat,
    version: String(checkpointVersion),
    config: JSON.stringify(checkpoint.config),
    step: String(checkpoint.step),
    seconds: String(checkpoint.seconds),
    replica: JSON.stringify(checkpoint.state.json),
  };
  files.writeAtomic(path, serializeSafetensors(tensors, metadata));
}

/** Load and validate a checkpoint; any problem is a TrainError naming the file. */
export function loadCheckpoint(files: FileStore, path: string): Checkpoint {
  let bytes: Uint8Array;
  try {
    bytes = files.readFile(path);
  } catch (error) {
    throw new TrainError('checkpoint-missing', `cannot read checkpoint ${path}: ${(error as Error).message}`);
  }
  try {
    const file = parseSafetensors(bytes);
    const meta = file.metadata;
    if (meta.format !== checkpointFormat) throw new Error(`format must be '${checkpointFormat}', got '${meta.format}'`);
    if (meta.version !== String(checkpointVersion)) throw new Error(`version must be ${checkpointVersion}, got ${meta.version}`);
    const step = Number(meta.step);
    if (!Number.isInteger(step) || step < 0) throw new Error(`step must be a non-negative integer, got ${meta.step}`);
    const arrays: Record<string, { shape: number[]; data: Float32Array | Int32Array }> = {};
    for (const [name, entry] of file.tensors) {
      if (entry.dtype !== 'F32' && entry.dtype !== 'I32') throw new Error(`array ${name} must be F32 or I32, got ${entry.dtype}`);
      const data = entry.data as Float32Array | Int32Array;
      const bad = data.findIndex((v) => !Number.isFinite(v));
      if (bad >= 0) throw new Error(`array ${name} holds a non-finite value at ${bad}`);
      arrays[name] = { shape: [...entry.shape], data };
    }
    return {
      config: { ...addedConfigDefaults, ...(JSON.parse(meta.config ?? 'null') as TrainConfig) },
      step,
      seconds: Number(meta.seconds ?? 0),
      state: { arrays, json: JSON.parse(meta.replica ?? 'null') as unknown },
    };
  } catch (error) {
    throw new TrainError('checkpoint-corrupt', `checkpoint ${path} is corrupt or not a gq-train checkpoint: ${(error as Error).message}`);
  }
}
