import * as tf from '@tensorflow/tfjs-core';
import { Tokenizer, writeTokenFile } from '@gq/tokenizer';
import { InferError, errorMessage } from '../src/core/errors.js';
import { roundTrip } from '../src/core/pipeline.js';
import { toRgba, type Pixels } from '../src/core/pixels.js';
import { tokenGridPicture } from '../src/core/token-grid.js';
import { artifactRows } from '../src/core/summary.js';
import { fillBackendMenu, pageBackends, startBrowserBackend, type PageBackend } from './backend.js';
import { element } from './dom.js';

const ui = {
  modelUrl: element<HTMLInputElement>('model-url'),
  modelLoad: element<HTMLButtonElement>('model-load'),
  modelFile: element<HTMLInputElement>('model-file'),
  modelInfo: element<HTMLDivElement>('model-info'),
  backend: element<HTMLSelectElement>('backend'),
  backendInfo: element<HTMLDivElement>('backend-info'),
  drop: element<HTMLDivElement>('drop'),
  imageFile: element<HTMLInputElement>('image-file'),
  error: element<HTMLDivElement>('error'),
  original: element<HTMLCanvasElement>('original'),
  grid: element<HTMLCanvasElement>('grid'),
  gridCaption: element<HTMLElement>('grid-caption'),
  reconstruction: element<HTMLCanvasElement>('reconstruction'),
  stats: element<HTMLDListElement>('stats'),
  download: element<HTMLAnchorElement>('download'),
};

let tokenizer: Tokenizer | null = null;
let modelBytes: Uint8Array | null = null;
let modelName = '';
let lastImage: { file: File; name: string } | null = null;
let queue: Promise<unknown> = Promise.resolve();

/** Runs tasks one after another; a failure is shown on the page and never escapes (no crash). */
function serial(task: () => Promise<void>): Promise<void> {
  const next = queue.then(async () => {
    document.body.dataset.state = 'busy';
    ui.error.hidden = true;
    try {
      await task();
      document.body.dataset.state = 'done';
    } catch (error) {
      ui.error.textContent = errorMessage(error);
      ui.error.hidden = false;
      document.body.dataset.state = 'error';
    }
  });
  queue = next;
  return next;
}

async function setBackend(choice: PageBackend): Promise<void> {
  ui.backendInfo.textContent = 'starting…';
  const info = await startBrowserBackend(choice);
  document.body.dataset.backend = info.name;
  ui.backendInfo.textContent = `${info.name}: ${info.detail}`;
  // Parameters live on the backend that created them: rebuild the tokenizer on the new one.
  if (modelBytes !== null) await loadModel(modelBytes, modelName);
}

async function loadModel(bytes: Uint8Array, name: string): Promise<void> {
  let loaded: Tokenizer;
  try {
    loaded = await Tokenizer.load(bytes);
  } catch (error) {
    throw new InferError('bad-model', `${name} is not a usable tokenizer artifact: ${errorMessage(error)}`, { cause: error });
  }
  tokenizer?.dispose();
  tokenizer = loaded;
  modelBytes = bytes;
  modelName = name;
  const rows = artifactRows(loaded.manifest!, bytes.byteLength);
  ui.modelInfo.textContent = `${name}: ` + rows.filter(([k]) => ['architecture', 'image', 'codebook', 'rate'].includes(k)).map(([, v]) => v).join(' · ');
  if (lastImage !== null) await tokenize(lastImage.file, lastImage.name);
}

async function loadModelFromUrl(url: string): Promise<void> {
  let response: Response;
  try {
    response = await fetch(url);
  } catch (error) {
    throw new InferError('unreadable', `cannot fetch ${url}: ${errorMessage(error)} (a cross-origin URL must allow CORS and CORP)`, { cause: error });
  }
  if (!response.ok) throw new InferError('unreadable', `cannot fetch ${url}: HTTP ${response.status}`);
  await loadModel(new Uint8Array(await response.arrayBuffer()), url.split('/').pop() || url);
}

/** Decode with the browser and bring to the model size like `--fit cover`: scale, centre-crop. */
async function imagePixels(file: File, width: number, height: number): Promise<Pixels> {
  let bitmap: ImageBitmap;
  try {
    // No colour conversion or premultiplication: the bytes the file holds, as the CLI reads them.
    bitmap = await createImageBitmap(file, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  } catch {
    throw new InferError('bad-image', `${file.name}: not an image this browser can decode (PNG, JPEG, WebP, GIF, AVIF)`);
  }
  const canvas = document.createElement('canvas');
  canvas.width = width;
  canvas.height = height;
  const context = canvas.getContext('2d', { willReadFrequently: true })!;
  const scale = Math.max(width / bitmap.width, height / bitmap.height);
  const sw = width / scale;
  const sh = height / scale;
  context.drawImage(bitmap, (bitmap.width - sw) / 2, (bitmap.height - sh) / 2, sw, sh, 0, 0, width, height);
  bitmap.close();
  return { data: context.getImageData(0, 0, width, height).data, width, height, channels: 4 };
}

function paint(canvas: HTMLCanvasElement, rgba: Uint8ClampedArray, width: number, height: number): void {
  canvas.width = width;
  canvas.height = height;
  canvas.style.aspectRatio = `${width} / ${height}`;
  canvas.getContext('2d')!.putImageData(new ImageData(new Uint8ClampedArray(rgba), width, height), 0, 0);
}

function showStats(rows: Array<[string, string]>): void {
  ui.stats.replaceChildren(...rows.flatMap(([k, v]) => {
    const dt = document.createElement('dt');
    dt.textContent = k;
    const dd = document.createElement('dd');
    dd.textContent = v;
    dd.dataset.stat = k;
    return [dt, dd];
  }));
}

async function tokenize(file: File, name: string): Promise<void> {
  lastImage = { file, name };
  if (tokenizer === null) throw new InferError('no-model', 'load a tokenizer artifact first (step 1)');
  const { width, height } = tokenizer.image;
  const pixels = await imagePixels(file, width, height);
  const result = await roundTrip(tokenizer, [pixels]);
  const gqt = writeTokenFile(result.tokens, tokenizer);
  paint(ui.original, toRgba(pixels), width, height);
  const grid = tokenGridPicture(result.tokens, 0, tokenizer.codebook.size);
  paint(ui.grid, grid.data, grid.width, grid.height);
  const [, h, w, g] = result.tokens.shape;
  ui.gridCaption.textContent = `token grid ${h}×${w}${g > 1 ? `×${g}` : ''} (colour = codeword index)`;
  paint(ui.reconstruction, toRgba(result.reconstructions[0]!), width, height);
  showStats([
    ['backend', tf.getBackend()],
    ['tokens', `${result.tokens.indices.length} × ${tokenizer.bitsPerToken} bits`],
    ['bpp', `${tokenizer.bitsPerPixel.toFixed(3)} (tokens), ${((8 * gqt.byteLength) / (width * height)).toFixed(3)} (.gqt with header)`],
    ['.gqt size', `${gqt.byteLength} bytes`],
    ['encode', `${result.encodeMs.toFixed(1)} ms`],
    ['decode', `${result.decodeMs.toFixed(1)} ms`],
    ["PSNR", `${result.psnr[0]!.toFixed(3)} dB`],
    ['SSIM', result.ssim === null ? 'n/a (image < 11 px)' : result.ssim[0]!.toFixed(4)],
  ]);
  if (ui.download.href.startsWith('blob:')) URL.revokeObjectURL(ui.download.href);
  ui.download.href = URL.createObjectURL(new Blob([gqt as Uint8Array<ArrayBuffer>], { type: 'application/octet-stream' }));
  ui.download.download = `${name.replace(/\.[^.]*$/, '') || 'image'}.gqt`;
  ui.download.hidden = false;
}

function chooseImage(file: File | undefined): void {
  if (file !== undefined) void serial(() => tokenize(file, file.name));
}

ui.modelLoad.addEventListener('click', () => void serial(() => loadModelFromUrl(ui.modelUrl.value.trim())));
ui.modelFile.addEventListener('change', () => {
  const file = ui.modelFile.files?.[0];
  if (file !== undefined) void serial(async () => loadModel(new Uint8Array(await file.arrayBuffer()), file.name));
  ui.modelFile.value = '';
});
ui.imageFile.addEventListener('change', () => {
  chooseImage(ui.imageFile.files?.[0]);
  // Choosing the same file again must fire 'change' again (e.g. after switching models).
  ui.imageFile.value = '';
});
fillBackendMenu(ui.backend);
ui.backend.addEventListener('change', () => void serial(() => setBackend(ui.backend.value as PageBackend)));
ui.drop.addEventListener('dragover', (event) => {
  event.preventDefault();
  ui.drop.classList.add('over');
});
ui.drop.addEventListener('dragleave', () => ui.drop.classList.remove('over'));
ui.drop.addEventListener('drop', (event) => {
  event.preventDefault();
  ui.drop.classList.remove('over');
  chooseImage(event.dataTransfer?.files[0]);
});

const params = new URLSearchParams(location.search);
const requested = params.get('backend') ?? 'auto';
ui.backend.value = (pageBackends as readonly string[]).includes(requested) ? requested : 'auto';
void serial(async () => {
  await setBackend(ui.backend.value as PageBackend);
  const model = params.get('model');
  if (model !== null) {
    ui.modelUrl.value = model;
    await loadModelFromUrl(model);
  }
});
