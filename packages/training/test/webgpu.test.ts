import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { BackendSteps } from './helpers/backend-steps.js';

// WebGPU in Node is Dawn on a Vulkan driver; without a GPU, CI unpacks Mesa's lavapipe (a CPU
// driver) into apps/infer/.vulkan (.ci/run). The loader reads LD_LIBRARY_PATH only when a process
// starts, so both backends train in child processes.
const vulkan = fileURLToPath(new URL('../../../apps/infer/.vulkan/', import.meta.url));
const script = fileURLToPath(new URL('./helpers/backend-steps.ts', import.meta.url));
const tsx = createRequire(import.meta.url).resolve('tsx');
const available = existsSync(`${vulkan}icd.json`) || process.env.VK_ICD_FILENAMES !== undefined;

/** The GQ UNet and ViT, and the baselines whose quantisers broadcast in ways WebGPU's kernels limit (rank ≤ 4). */
const runs = 'unet:gq,vit:gq,unet:lfq,unet:tokenbridge';

function trainOn(backend: 'wasm' | 'webgpu', steps: number, resumeAt: number): BackendSteps[] {
  const env = { ...process.env };
  if (env.VK_ICD_FILENAMES === undefined) {
    env.VK_ICD_FILENAMES = `${vulkan}icd.json`;
    env.LD_LIBRARY_PATH = [`${vulkan}lib`, env.LD_LIBRARY_PATH].filter(Boolean).join(':');
  }
  const child = spawnSync(process.execPath, ['--conditions=@gq/source', '--import', tsx, script, backend, String(steps), String(resumeAt), runs], {
    encoding: 'utf8',
    env,
    timeout: 150_000,
  });
  expect(child.status, child.stderr).toBe(0);
  return child.stdout.trim().split('\n').map((line) => JSON.parse(line) as BackendSteps);
}

/** max |a − b| / max(|b|, 1e-3) over two equally long series. */
function relativeGap(a: readonly number[], b: readonly number[]): number {
  expect(a.length).toBe(b.length);
  return Math.max(...a.map((x, i) => Math.abs(x - b[i]!) / Math.max(Math.abs(b[i]!), 1e-3)));
}

describe('training on WebGPU (Dawn on lavapipe) agrees with wasm', () => {
  it('is installed where the tests must run it (CI installs lavapipe via .ci/run)', () => {
    if (!available && process.env.CI === undefined) {
      console.warn('WebGPU training test skipped: no Vulkan driver; run `pnpm --filter @gq/infer lavapipe` to install Mesa lavapipe');
    }
    expect(available || process.env.CI === undefined).toBe(true);
  });

  it.runIf(available)('GQ UNet and ViT, LFQ and TokenBridge: same losses, rates and weights over 3 steps, through a checkpoint resume, with flat memory', () => {
    // 3 steps at batch 2, interrupted after 2 and resumed from a checkpoint file: Adam, TDC state and
    // the noise seeds must carry over on webgpu exactly as on wasm.
    const wasm = trainOn('wasm', 3, 2);
    const webgpu = trainOn('webgpu', 3, 2);
    expect(webgpu.map((r) => `${r.arch}:${r.method}`).join(',')).toBe(runs);
    for (let i = 0; i < webgpu.length; i++) {
      const [a, b] = [webgpu[i]!, wasm[i]!];
      expect([a.arch, a.method, a.backend, b.backend]).toEqual([b.arch, b.method, 'webgpu', 'wasm']);
      // float32 on both; measured here ≤ 2e-6 relative (kernel summation order), the bar is 50× that.
      expect(relativeGap(a.losses, b.losses), `${a.arch} ${a.method} loss`).toBeLessThan(1e-4);
      expect(relativeGap(a.recon, b.recon), `${a.arch} ${a.method} L1`).toBeLessThan(1e-4);
      expect(relativeGap(a.rate, b.rate), `${a.arch} ${a.method} rate`).toBeLessThan(1e-4);
      expect(relativeGap([a.weightL1], [b.weightL1]), `${a.arch} ${a.method} weights`).toBeLessThan(1e-5);
      // The losses move: a step that applied nothing would also agree.
      expect(new Set(a.losses).size).toBe(3);
      // Nothing accumulates: the same tensors and bytes are alive after every step (a resume included).
      expect(new Set(a.tensors).size, `${a.arch} tensors ${a.tensors.join(', ')}`).toBe(1);
      expect(new Set(a.bytes).size, `${a.arch} bytes ${a.bytes.join(', ')}`).toBe(1);
      expect(a.tensors).toEqual(b.tensors);
    }
  }, 300_000);
});
