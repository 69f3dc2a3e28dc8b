import { describe, expect, it } from 'vitest';
import { runFuzz } from '../src/run.js';

describe('fuzz (a seeded slice of `pnpm fuzz`)', () => {
  it('60 mutated inputs per format: no hang, memory blow-up, crash or untyped error', async () => {
    const summaries = await runFuzz({ cases: 60, seed: 20_240_601, parallel: 1 });
    expect(summaries.map((s) => s.format)).toEqual(['gqt', 'gqtok', 'safetensors', 'ckpt', 'png']);
    for (const summary of summaries) {
      expect(summary.failures, summary.format).toEqual([]);
      expect(summary.cases).toBe(60);
      // The mutations must reach the readers' checks, not only be refused as not-a-file.
      expect(summary.typed, summary.format).toBeGreaterThan(10);
    }
  });
});
