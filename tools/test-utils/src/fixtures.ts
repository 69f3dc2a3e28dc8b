import { readFileSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RawTensor, SafetensorsReader } from './tensor-file.js';

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

/** A fixture JSON file, parsed. */
export function readFixtureJson<T = unknown>(...parts: string[]): T {
  return JSON.parse(readFileSync(fixturePath(...parts), 'utf8')) as T;
}

/** A fixture file's bytes. */
export function readFixtureBytes(...parts: string[]): Uint8Array {
  return new Uint8Array(readFileSync(fixturePath(...parts)));
}

/**
 * All tensors of a fixture `.safetensors` file by name, read with `read` (@gq/safetensors'
 * `parseSafetensors`): `readFixtureTensors(parseSafetensors, 'gq-search', 'inputs.safetensors')`.
 */
export function readFixtureTensors<E extends RawTensor>(read: SafetensorsReader<E>, ...parts: string[]): Map<string, E> {
  return new Map(read(readFixtureBytes(...parts)).tensors);
}
