import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import * as browser from '@gq/training/browser';

/** Every module of this package reachable from `entry` through relative imports (type-only ones included). */
function localGraph(entry: URL): Map<string, string> {
  const seen = new Map<string, string>();
  const visit = (url: URL): void => {
    const path = fileURLToPath(url);
    if (seen.has(path)) return;
    const text = readFileSync(path, 'utf8');
    seen.set(path, text);
    for (const [, spec] of text.matchAll(/from '(\.[^']+)'/g)) visit(new URL(spec!.replace(/\.js$/, '.ts'), url));
  };
  visit(entry);
  return seen;
}

/** Node-only value imports: node:* modules, and the Node entries of @gq/runtime (files, worker threads); type-only imports vanish. */
const nodeOnly = /^import (?!type )[^;]*from '(node:[^']+|@gq\/runtime\/(files|parallel))'|import\('node:/m;

describe('@gq/training/browser', () => {
  it('imports nothing Node-only anywhere in its graph, and the graph is not trivially small', () => {
    const graph = localGraph(new URL('../src/browser.ts', import.meta.url));
    const offenders = [...graph].filter(([, text]) => nodeOnly.test(text)).map(([path]) => path);
    expect(offenders).toEqual([]);
    // browser, config, replica, model, backbone, methods, errors at least.
    expect(graph.size).toBeGreaterThanOrEqual(7);
    // The whole index does reach Node-only modules (a control: the scan sees them), but only
    // through @gq/runtime: no module of the package imports node:* itself.
    const index = localGraph(new URL('../src/index.ts', import.meta.url));
    expect([...index.values()].some((text) => nodeOnly.test(text))).toBe(true);
    expect([...index].filter(([, text]) => /from 'node:|import\('node:/.test(text)).map(([path]) => path)).toEqual([]);
  });

  it('exports the replica, the config resolver and the trained model', () => {
    expect(typeof browser.createReplica).toBe('function');
    expect(browser.resolveConfig({ steps: 2 }).steps).toBe(2);
    expect(typeof browser.TrainedModel.fromWeights).toBe('function');
  });
});
