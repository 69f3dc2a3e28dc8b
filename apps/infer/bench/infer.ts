// Encode / decode throughput (images/s) of a GQ tokenizer per tfjs backend, with the cpu backend
// measured in the same run as the baseline. cpu32 preset (32×32 RGB, f = 4, K = 256), random
// weights: speed does not depend on training. WebGPU runs through the CLI in a child process,
// because the lavapipe driver's libraries must be on LD_LIBRARY_PATH when a process starts.
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs-core';
import { useBackend } from '@gq/runtime';
import { Tokenizer, packArtifact, toArtifact } from '@gq/tokenizer';
import { init, unetPresets } from '@gq/vae-unet';
import { decodePixels, encodePixels } from '../src/core/pipeline.js';
import type { Pixels } from '../src/core/pixels.js';

const imageCount = 8;
const batchSize = 4;
const side = 32;
const bin = fileURLToPath(new URL('../bin/gq.mjs', import.meta.url));
const lavapipe = fileURLToPath(new URL('../.vulkan/icd.json', import.meta.url));

function pattern(seed: number): Uint8Array {
  const data = new Uint8Array(side * side * 3);
  for (let i = 0; i < data.length; i++) data[i] = (Math.imul(i + 1, 2654435761 + seed) >>> 24) & 0xff;
  return data;
}

async function measure(tokenizer: Tokenizer, images: Pixels[]): Promise<{ encode: number; decode: number }> {
  const batches = Array.from({ length: Math.ceil(images.length / batchSize) }, (_, i) => images.slice(i * batchSize, (i + 1) * batchSize));
  // Warm-up: kernel compilation and first-use allocation are not throughput.
  await decodePixels(tokenizer, await encodePixels(tokenizer, batches[0]!));
  const tokens = [];
  let t0 = performance.now();
  for (const batch of batches) tokens.push(await encodePixels(tokenizer, batch));
  const encodeSeconds = (performance.now() - t0) / 1000;
  t0 = performance.now();
  for (const t of tokens) await decodePixels(tokenizer, t);
  const decodeSeconds = (performance.now() - t0) / 1000;
  return { encode: images.length / encodeSeconds, decode: images.length / decodeSeconds };
}

await useBackend('cpu');
const params = init(unetPresets.cpu32, 1);
const made = Tokenizer.create({ arch: 'unet', config: unetPresets.cpu32, params, codebook: { size: 256, dim: 4, seed: 42 } });
const artifact = packArtifact(await toArtifact(made));
made.dispose();
tf.dispose(Object.values(params));
const images: Pixels[] = Array.from({ length: imageCount }, (_, i) => ({ data: pattern(i), width: side, height: side, channels: 3 }));

const rows: Array<{ backend: string; encode: number; decode: number; note: string }> = [];
for (const backend of ['cpu', 'wasm'] as const) {
  await useBackend(backend);
  const tokenizer = await Tokenizer.load(artifact);
  const r = await measure(tokenizer, images);
  tokenizer.dispose();
  rows.push({ backend, ...r, note: backend === 'wasm' ? 'XNNPACK SIMD, one thread (Node)' : 'pure JS' });
}

if (existsSync(lavapipe) || process.env.VK_ICD_FILENAMES !== undefined) {
  const dir = mkdtempSync(join(tmpdir(), 'gq-bench-'));
  const files = images.map((image, i) => join(dir, `img${i}.png`));
  writeFileSync(join(dir, 'model.gqtok'), artifact);
  for (let i = 0; i < images.length; i++) await sharp(Buffer.from(images[i]!.data), { raw: { width: side, height: side, channels: 3 } }).png().toFile(files[i]!);
  const child = spawnSync(process.execPath, [bin, 'roundtrip', ...files, '-m', join(dir, 'model.gqtok'), '--backend', 'webgpu', '--json', '-b', String(batchSize)], { encoding: 'utf8' });
  if (child.status === 0) {
    const out = JSON.parse(child.stdout) as { encodeImagesPerSecond: number; decodeImagesPerSecond: number };
    rows.push({ backend: 'webgpu', encode: out.encodeImagesPerSecond, decode: out.decodeImagesPerSecond, note: 'Dawn + lavapipe (CPU Vulkan), incl. shader compilation' });
  } else {
    rows.push({ backend: 'webgpu', encode: NaN, decode: NaN, note: `failed: ${child.stderr.trim().split('\n').pop()}` });
  }
} else {
  rows.push({ backend: 'webgpu', encode: NaN, decode: NaN, note: 'skipped: no Vulkan driver (pnpm --filter @gq/infer lavapipe)' });
}

const base = rows[0]!;
console.log(`gq infer bench: ${imageCount} images ${side}×${side}×3, cpu32 UNet (f=4, K=256, 0.5 bpp), batch ${batchSize}`);
console.log('backend   encode img/s  ×cpu   decode img/s  ×cpu   note');
for (const r of rows) {
  const f = (v: number): string => (Number.isFinite(v) ? v.toFixed(1) : '–').padStart(12);
  const x = (v: number, b: number): string => (Number.isFinite(v) ? (v / b).toFixed(2) : '–').padStart(5);
  console.log(`${r.backend.padEnd(8)}${f(r.encode)}  ${x(r.encode, base.encode)}  ${f(r.decode)}  ${x(r.decode, base.decode)}   ${r.note}`);
}
process.exit(0);
