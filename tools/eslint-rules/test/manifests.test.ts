import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    return statSync(path).isDirectory() ? sourceFiles(path) : /\.(ts|mts|js|mjs)$/.test(path) ? [path] : [];
  });
}

/** Package names that a source text imports, statically, by literal dynamic import, or by require.resolve. */
function importedPackages(text: string): string[] {
  const specifiers = [...text.matchAll(/(?:\bfrom\s+|\bimport\s*\(\s*|\bimport\s+|require\.resolve\(\s*)'([^'.][^']*)'/g)].map((m) => m[1]!);
  return specifiers.filter((s) => !s.startsWith('node:')).map((s) => s.split('/').slice(0, s.startsWith('@') ? 2 : 1).join('/'));
}

interface Manifest {
  name: string;
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
}

const packages = readdirSync(join(root, 'packages')).map((name) => ({
  dir: join(root, 'packages', name),
  manifest: JSON.parse(readFileSync(join(root, 'packages', name, 'package.json'), 'utf8')) as Manifest,
}));

describe('published packages declare exactly what their src imports', () => {
  it.each(packages.map((p) => [p.manifest.name, p] as const))('%s', (_, { dir, manifest }) => {
    const imported = new Set(sourceFiles(join(dir, 'src')).flatMap((file) => importedPackages(readFileSync(file, 'utf8'))));
    imported.delete(manifest.name);
    const declared = new Set([...Object.keys(manifest.dependencies ?? {}), ...Object.keys(manifest.peerDependencies ?? {})]);
    // Optional peers may be loaded by a computed import (tfjs-node when installed): they need not be visible here.
    const optional = new Set(Object.entries(manifest.peerDependenciesMeta ?? {}).filter(([, meta]) => meta.optional === true).map(([name]) => name));
    expect([...imported].filter((name) => !declared.has(name)).sort(), 'imported but not declared').toEqual([]);
    expect([...declared].filter((name) => !imported.has(name) && !optional.has(name)).sort(), 'declared but not imported').toEqual([]);
  });

  it('@gq/tdc, @gq/quantizers, @gq/codebook and @gq/metrics reach no workspace package but @gq/core', () => {
    for (const name of ['tdc', 'quantizers', 'codebook', 'metrics']) {
      const manifest = packages.find((p) => p.manifest.name === `@gq/${name}`)!.manifest;
      const workspace = Object.keys({ ...manifest.dependencies, ...manifest.peerDependencies }).filter((dep) => dep.startsWith('@gq/'));
      expect(workspace, name).toEqual(['@gq/core']);
    }
  });
});
