import { readFileSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { ensureGradients, useBackend, type BackendName } from '@gq/runtime';
import { parseSafetensors, type SafetensorsEntry } from '@gq/safetensors';

/** The repository root (this file lives in tools/test-utils/src). */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/** The shared fixtures folder that sits beside the repository (`../shared/fixtures`). */
export const fixturesDir = resolve(repoRoot, '../shared/fixtures');

/** Absolute path of a fixture file, e.g. `fixturePath('gq-search', 'search_K256_m4_N64.json')`. */
export function fixturePath(...parts: string[]): string {
  const path = join(fixturesDir, ...parts);
  if (!existsSync(path)) throw new Error(`fixture not found: ${path} (expected ../shared/fixtures beside the repo)`);
  return path;
}

export function readFixtureJson<T = unknown>(...parts: string[]): T {
  return JSON.parse(readFileSync(fixturePath(...parts), 'utf8')) as T;
}

export function readFixtureBytes(...parts: string[]): Uint8Array {
  return new Uint8Array(readFileSync(fixturePath(...parts)));
}

/** All tensors of a fixture `.safetensors` file by name. */
export function readFixtureTensors(...parts: string[]): Map<string, SafetensorsEntry> {
  return new Map(parseSafetensors(readFixtureBytes(...parts)).tensors);
}

/** Start a backend (default cpu) with gradients registered; call in `beforeAll`. */
export async function setupBackend(name: BackendName = 'cpu'): Promise<void> {
  await useBackend(name);
  await ensureGradients();
}

/** Run `fn` and return how many tensors it left allocated (0 means no leak). */
export async function tensorGrowth(fn: () => unknown | Promise<unknown>): Promise<number> {
  const before = tf.memory().numTensors;
  await fn();
  return tf.memory().numTensors - before;
}

/** Deterministic float64 uniform generator (mulberry32) for test inputs. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal draws (Box–Muller) from `seededRandom`. */
export function seededNormal(seed: number): () => number {
  const uniform = seededRandom(seed);
  return () => {
    const u = Math.max(uniform(), 1e-300);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * uniform());
  };
}

/** Maximum absolute difference between two equally long numeric arrays. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`maxAbsDiff: lengths differ (${a.length} vs ${b.length})`);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
}
