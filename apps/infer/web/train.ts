/*
 * The training page: the replica gq-train runs (@gq/training/browser, no node:* modules), stepped in
 * the page's thread on WebGPU (wasm as the fallback), with live loss, KL bits and in-band share, a
 * reconstruction grid through the trained tokenizer, and the `.gqtok` as a download.
 * Query parameters (tests, links): backend, steps, batch, autostart=1.
 */
import * as tf from '@tensorflow/tfjs-core';
// The gradient functions (tfjs's union package registers them; tfjs-core alone does not).
import '@tensorflow/tfjs-core/dist/register_all_gradients.js';
import { BAND_HALF_WIDTH, pixelsToUnit, unitToPixels } from '@gq/core';
import { packArtifact, toArtifact } from '@gq/tokenizer';
import { combineStepStats, createReplica, rate, resolveConfig, TrainedModel, type TrainConfig } from '@gq/training/browser';
import { InferError, errorMessage } from '../src/core/errors.js';
import { toRgba } from '../src/core/pixels.js';
import { fillBackendMenu, startBrowserBackend, type PageBackend } from './backend.js';
import { element } from './dom.js';

const ui = {
  images: element<HTMLInputElement>('images'),
  dataInfo: element<HTMLDivElement>('data-info'),
  backend: element<HTMLSelectElement>('backend'),
  backendInfo: element<HTMLDivElement>('backend-info'),
  steps: element<HTMLInputElement>('steps'),
  batch: element<HTMLInputElement>('batch'),
  train: element<HTMLButtonElement>('train'),
  stop: element<HTMLButtonElement>('stop'),
  error: element<HTMLDivElement>('error'),
  stats: element<HTMLDListElement>('stats'),
  loss: element<HTMLCanvasElement>('loss'),
  grid: element<HTMLCanvasElement>('grid'),
  download: element<HTMLAnchorElement>('download'),
};

const side = 32;
const pixelsPerImage = side * side * 3;
/** Training images in [−1, 1], [count, 32, 32, 3] row-major. */
let images = sampleImages(64);
let stopRequested = false;

/** Smooth colour fields with a disc and a bar, seeded: the built-in sample (no download needed). */
function sampleImages(count: number): { data: Float32Array; count: number } {
  const bytes = new Uint8Array(count * pixelsPerImage);
  let s = 2024;
  const next = (): number => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
  for (let n = 0; n < count; n++) {
    const [phase, cx, cy, r, hue] = [next() * 6.28, 8 + next() * 16, 8 + next() * 16, 4 + next() * 6, next()];
    for (let y = 0; y < side; y++) {
      for (let x = 0; x < side; x++) {
        const i = n * pixelsPerImage + 3 * (y * side + x);
        const inside = (x - cx) ** 2 + (y - cy) ** 2 < r * r;
        const bar = Math.abs(x - y - (hue - 0.5) * 20) < 2;
        bytes[i] = inside ? 230 * hue + 20 : 127 + 100 * Math.sin(x / 4 + phase);
        bytes[i + 1] = bar ? 240 : 127 + 100 * Math.cos(y / 5 - phase);
        bytes[i + 2] = inside ? 40 : (255 * (x + y)) / (2 * side - 2);
      }
    }
  }
  return { data: pixelsToUnit(bytes), count };
}

/** The user's images, centre-cropped and resized to 32×32 by the browser. */
async function loadImages(files: FileList): Promise<{ data: Float32Array; count: number }> {
  const canvas = new OffscreenCanvas(side, side);
  const context = canvas.getContext('2d', { willReadFrequently: true })!;
  const bytes = new Uint8Array(files.length * pixelsPerImage);
  for (let n = 0; n < files.length; n++) {
    const bitmap = await createImageBitmap(files[n]!);
    const crop = Math.min(bitmap.width, bitmap.height);
    context.drawImage(bitmap, (bitmap.width - crop) / 2, (bitmap.height - crop) / 2, crop, crop, 0, 0, side, side);
    bitmap.close();
    const rgba = context.getImageData(0, 0, side, side).data;
    for (let p = 0; p < side * side; p++) for (let c = 0; c < 3; c++) bytes[n * pixelsPerImage + 3 * p + c] = rgba[4 * p + c]!;
  }
  return { data: pixelsToUnit(bytes), count: files.length };
}

function showError(error: unknown): void {
  ui.error.textContent = errorMessage(error);
  ui.error.hidden = false;
  document.body.dataset.state = 'error';
}

function setStats(rows: Record<string, string>): void {
  ui.stats.replaceChildren(
    ...Object.entries(rows).flatMap(([key, value]) => {
      const dt = document.createElement('dt');
      dt.textContent = key;
      const dd = document.createElement('dd');
      dd.textContent = value;
      dd.dataset.key = key;
      return [dt, dd];
    }),
  );
}

function drawLoss(losses: readonly number[]): void {
  const context = ui.loss.getContext('2d')!;
  const { width, height } = ui.loss;
  context.fillStyle = '#fff';
  context.fillRect(0, 0, width, height);
  if (losses.length < 2) return;
  const [lo, hi] = [Math.min(...losses), Math.max(...losses)];
  context.strokeStyle = '#2563eb';
  context.lineWidth = 2;
  context.beginPath();
  losses.forEach((loss, i) => {
    const x = (i / (losses.length - 1)) * (width - 10) + 5;
    const y = height - 5 - ((loss - lo) / (hi - lo || 1)) * (height - 10);
    if (i === 0) context.moveTo(x, y);
    else context.lineTo(x, y);
  });
  context.stroke();
}

/** Originals over their reconstructions through the trained tokenizer's GQ tokens, 3× enlarged. */
async function drawGrid(model: TrainedModel, count: number): Promise<void> {
  const originals = tf.tensor4d(images.data.subarray(0, count * pixelsPerImage), [count, side, side, 3]);
  const tokens = await model.tokenizer!.encode(originals);
  const decoded = await model.tokenizer!.decode(tokens);
  const rows = [images.data.subarray(0, count * pixelsPerImage), (await decoded.data()) as Float32Array];
  tf.dispose([originals, decoded]);
  const scale = 3;
  ui.grid.width = count * side * scale;
  ui.grid.height = 2 * side * scale;
  const context = ui.grid.getContext('2d')!;
  context.imageSmoothingEnabled = false;
  const tile = new OffscreenCanvas(side, side);
  rows.forEach((row, r) => {
    for (let n = 0; n < count; n++) {
      const pixels = unitToPixels(row.subarray(n * pixelsPerImage, (n + 1) * pixelsPerImage));
      tile.getContext('2d')!.putImageData(new ImageData(new Uint8ClampedArray(toRgba({ data: pixels, width: side, height: side, channels: 3 })), side, side), 0, 0);
      context.drawImage(tile, n * side * scale, r * side * scale, side * scale, side * scale);
    }
  });
}

async function train(): Promise<void> {
  document.body.dataset.state = 'training';
  ui.error.hidden = true;
  ui.download.hidden = true;
  ui.train.disabled = true;
  ui.stop.disabled = false;
  stopRequested = false;
  const backend = await startBrowserBackend(ui.backend.value as PageBackend);
  ui.backendInfo.textContent = `${backend.name}: ${backend.detail}`;
  document.body.dataset.backend = backend.name;
  const config: TrainConfig = resolveConfig({
    arch: 'unet',
    preset: 'tiny32',
    method: 'gq',
    bits: 8,
    steps: Number(ui.steps.value),
    batchSize: Math.min(Number(ui.batch.value), images.count),
    learningRate: 2e-3,
  });
  const replica = await createReplica({ options: { config }, workerIndex: 0, workerCount: 1 });
  const losses: number[] = [];
  const started = performance.now();
  try {
    const batch = new Float32Array(config.batchSize * pixelsPerImage);
    for (let step = 0; step < config.steps && !stopRequested; step++) {
      for (let b = 0; b < config.batchSize; b++) {
        const n = (step * config.batchSize + b) % images.count;
        batch.set(images.data.subarray(n * pixelsPerImage, (n + 1) * pixelsPerImage), b * pixelsPerImage);
      }
      const result = await replica.computeGradients({ images: { shape: [config.batchSize, side, side, 3], data: batch } });
      if (!Number.isFinite(result.loss)) throw new InferError('non-finite', `train: the loss must stay finite, got ${result.loss} at step ${step + 1}`);
      const combined = combineStepStats([result.stats], [1]);
      await replica.applyGradients(result.grads, combined);
      tf.dispose(result.grads as tf.Tensor[]);
      losses.push(result.loss);
      const tdc = combined.tdc!;
      setStats({
        step: `${step + 1} / ${config.steps}`,
        loss: result.loss.toFixed(4),
        'KL bits per token (mean [min, max])': `${tdc.mean.toFixed(2)} [${tdc.min.toFixed(1)}, ${tdc.max.toFixed(1)}]`,
        [`in band (${config.codebookBits} ± ${BAND_HALF_WIDTH} bits)`]: `${(((tdc.inBand ?? 0) / tdc.count) * 100).toFixed(0)} %`,
        'seconds per step': ((performance.now() - started) / 1000 / (step + 1)).toFixed(2),
      });
      drawLoss(losses);
      // Let the page paint between steps.
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    const model = TrainedModel.fromWeights(config, await replica.calls!.weights(undefined));
    try {
      await drawGrid(model, Math.min(8, images.count));
      const r = rate(config);
      const artifact = await toArtifact(model.tokenizer!, {
        training: { method: config.method, steps: losses.length, batchSize: config.batchSize, backend: backend.name, where: 'browser' },
        metrics: { finalLoss: losses.at(-1) ?? null, bitsPerImage: r.bitsPerImage },
      });
      const bytes = packArtifact(artifact);
      ui.download.href = URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>], { type: 'application/octet-stream' }));
      ui.download.download = 'tokenizer.gqtok';
      ui.download.hidden = false;
    } finally {
      model.dispose();
    }
    document.body.dataset.state = 'done';
  } finally {
    replica.dispose();
    ui.train.disabled = false;
    ui.stop.disabled = true;
  }
}

// Training needs gradients: the page offers WebGPU and wasm (with its training kernels), not tfjs's cpu backend.
fillBackendMenu(ui.backend, ['auto', 'webgpu', 'wasm']);
const query = new URLSearchParams(location.search);
for (const [key, input] of [['steps', ui.steps], ['batch', ui.batch], ['backend', ui.backend]] as const) {
  const value = query.get(key);
  if (value !== null) input.value = value;
}
ui.images.addEventListener('change', () => {
  const files = ui.images.files;
  if (files === null || files.length === 0) return;
  loadImages(files)
    .then((loaded) => {
      images = loaded;
      ui.dataInfo.textContent = `${loaded.count} image(s), centre-cropped to 32×32.`;
    })
    .catch(showError);
});
ui.train.addEventListener('click', () => void train().catch(showError));
ui.stop.addEventListener('click', () => {
  stopRequested = true;
});
if (query.get('autostart') === '1') void train().catch(showError);
