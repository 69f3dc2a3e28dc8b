import { existsSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { Tokenizer, readTokenFile } from '@gq/tokenizer';
import { useBackend } from '@gq/runtime';
import { unetPresets } from '@gq/vae-unet';
import { encodePixels } from '../src/core/pipeline.js';
import { tokenAgreement } from '../src/core/tokens.js';
import type { Pixels } from '../src/core/pixels.js';
import { run } from '../src/cli.js';
import { captureIo, makeArtifact, syntheticPixels, tempDir, writeBytes, writePngFile } from './helpers.js';

const bin = fileURLToPath(new URL('../bin/gq.mjs', import.meta.url));
const lavapipe = fileURLToPath(new URL('../.vulkan/icd.json', import.meta.url));

function images(count: number, side: number, seed: number): Pixels[] {
  return Array.from({ length: count }, (_, i) => ({ data: syntheticPixels(seed + i, side, side), width: side, height: side, channels: 3 }));
}

async function tokensAndReconstruction(backend: 'cpu' | 'wasm', artifact: Uint8Array, batch: Pixels[]): Promise<{ indices: Int32Array; decoded: Float32Array }> {
  await useBackend(backend);
  const tokenizer = await Tokenizer.load(artifact);
  try {
    const tokens = await encodePixels(tokenizer, batch);
    const y = await tokenizer.decode(tokens);
    const decoded = (await y.data()) as Float32Array;
    y.dispose();
    return { indices: tokens.indices, decoded };
  } finally {
    tokenizer.dispose();
  }
}

describe('same tokens on every backend', () => {
  let tiny: Uint8Array;
  let cpu32: Uint8Array;

  beforeAll(async () => {
    await useBackend('cpu');
    tiny = await makeArtifact(3);
    cpu32 = await makeArtifact(4, unetPresets.cpu32, { size: 1024, dim: 4, seed: 5 });
  });

  for (const [name, side, count] of [['tiny 16×16 UNet', 16, 6], ['cpu32 preset', 32, 2]] as const) {
    it(`wasm and cpu give identical tokens (${name})`, async () => {
      const artifact = name === 'cpu32 preset' ? cpu32 : tiny;
      const batch = images(count, side, 100);
      const cpu = await tokensAndReconstruction('cpu', artifact, batch);
      const wasm = await tokensAndReconstruction('wasm', artifact, batch);
      expect(cpu.indices.length).toBe(count * (side / (name === 'cpu32 preset' ? 4 : 2)) ** 2);
      expect(tokenAgreement(wasm.indices, cpu.indices).differing).toBe(0);
      // Same indices → same codewords; the decoders differ only by float32 kernel rounding
      // (XNNPACK vs JS convolutions): ~1e-6 relative per layer, a few layers deep.
      let worst = 0;
      for (let i = 0; i < cpu.decoded.length; i++) worst = Math.max(worst, Math.abs(cpu.decoded[i]! - wasm.decoded[i]!));
      expect(worst).toBeLessThan(1e-4);
      await useBackend('cpu');
    });
  }
});

describe('WebGPU (Dawn in Node, lavapipe)', () => {
  const available = existsSync(lavapipe) || process.env.VK_ICD_FILENAMES !== undefined;
  const required = process.env.CI !== undefined;

  it('is installed where the tests must run it (CI installs lavapipe via .ci/run)', () => {
    if (!available && !required) {
      console.warn('WebGPU test skipped: no Vulkan driver; run `pnpm --filter @gq/infer lavapipe` to install Mesa lavapipe');
    }
    expect(available || !required).toBe(true);
  });

  it.runIf(available)('gives the same tokens as cpu and reconstructions within 0.05 dB PSNR', async () => {
    await useBackend('cpu');
    const dir = tempDir('webgpu');
    const model = writeBytes(join(dir, 'tiny.gqtok'), await makeArtifact(3));
    const files: string[] = [];
    for (let i = 0; i < 2; i++) {
      files.push(join(dir, `img${i}.png`));
      await writePngFile(files[i]!, syntheticPixels(200 + i, 16, 16), 16, 16);
    }
    const io = captureIo();
    expect(await run(['roundtrip', ...files, '-m', model, '--backend', 'cpu', '--json', '--save-tokens', join(dir, 'cpu.gqt')], io)).toBe(0);
    const cpu = JSON.parse(io.stdout()) as { images: Array<{ psnr: number }> };
    const child = spawnSync(process.execPath, [bin, 'roundtrip', ...files, '-m', model, '--backend', 'webgpu', '--json', '--save-tokens', join(dir, 'webgpu.gqt')], {
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(child.status, child.stderr).toBe(0);
    const webgpu = JSON.parse(child.stdout) as { backend: string; images: Array<{ psnr: number }> };
    expect(webgpu.backend).toBe('webgpu');
    const a = readTokenFile(readFileSync(join(dir, 'cpu.gqt'))).tokens.indices;
    const b = readTokenFile(readFileSync(join(dir, 'webgpu.gqt'))).tokens.indices;
    // Measured identical here; the bar is ≥ 99.9 % agreement.
    expect(tokenAgreement(a, b).rate).toBeGreaterThanOrEqual(0.999);
    for (let i = 0; i < 2; i++) expect(Math.abs(webgpu.images[i]!.psnr - cpu.images[i]!.psnr)).toBeLessThan(0.05);
    expect(tf.getBackend()).toBe('cpu');
  });
});
