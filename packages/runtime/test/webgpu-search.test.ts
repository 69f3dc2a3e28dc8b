import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// Dawn on Mesa's lavapipe (apps/infer/.vulkan, unpacked by .ci/run); the Vulkan loader reads
// LD_LIBRARY_PATH only when a process starts, so the search runs in a child process.
const vulkan = fileURLToPath(new URL('../../../apps/infer/.vulkan/', import.meta.url));
const script = fileURLToPath(new URL('./helpers/webgpu-search.ts', import.meta.url));
const available = existsSync(`${vulkan}icd.json`) || process.env.VK_ICD_FILENAMES !== undefined;

interface SearchReport {
  backend: string;
  first: number[];
  second: number[];
  exact: number[];
  tensors: [number, number];
  bytes: [number, number];
  gpuBytesAllocated: number | null;
  scoreBytesUnchunked: number;
}

describe('GQ search on WebGPU (Dawn on lavapipe) at K = 65 536, m = 16', () => {
  it.runIf(available)('agrees with the exact float64 search, in score chunks that bound GPU memory, without leaks', () => {
    const env = { ...process.env };
    if (env.VK_ICD_FILENAMES === undefined) {
      env.VK_ICD_FILENAMES = `${vulkan}icd.json`;
      env.LD_LIBRARY_PATH = [`${vulkan}lib`, env.LD_LIBRARY_PATH].filter(Boolean).join(':');
    }
    const tsx = createRequire(import.meta.url).resolve('tsx');
    const child = spawnSync(process.execPath, ['--conditions=@gq/source', '--import', tsx, script], { encoding: 'utf8', env, timeout: 150_000 });
    expect(child.status, child.stderr).toBe(0);
    const report = JSON.parse(child.stdout.trim().split('\n').at(-1)!) as SearchReport;
    expect(report.backend).toBe('webgpu');
    // float32 scores on the GPU may split a float64 near-tie the other way; measured: none of 256 rows.
    const differing = report.second.filter((index, i) => index !== report.exact[i]).length;
    expect(differing).toBeLessThanOrEqual(2);
    expect(report.second).toEqual(report.first);
    // Flat after the first call (which caches the codebook tables on the device).
    expect(report.tensors[1]).toBe(report.tensors[0]);
    expect(report.bytes[1]).toBe(report.bytes[0]);
    // Everything the GPU holds beyond the live tensors (pooled chunk buffers) stays well under one
    // unchunked score matrix (rows·K·4 = 64 MiB): the 2 MiB budget bounds every chunk.
    expect(report.gpuBytesAllocated).not.toBeNull();
    expect(report.gpuBytesAllocated! - report.bytes[1]).toBeLessThan(report.scoreBytesUnchunked / 2);
  }, 200_000);
});
