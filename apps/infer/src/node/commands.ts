import { mkdir, stat } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { isGqError } from '@gq/core';
import {
  ARTIFACT_MAGIC,
  TOKEN_FILE_MAGIC,
  readTokenFile,
  unpackArtifact,
  writeTokenFile,
  type Tokenizer,
  type Tokens,
} from '@gq/tokenizer';
// `gq info` checks an artifact's id without loading its weights into tfjs.
import { computeArtifactId, resolveManifest } from '@gq/tokenizer/internal';
import { InferError, errorMessage } from '../core/errors.js';
import { concatTokens, sliceTokens } from '../core/tokens.js';
import { decodePixels, encodePixels, roundTrip } from '../core/pipeline.js';
import { artifactRows, formatRows, tokenFileRows } from '../core/summary.js';
import type { Pixels } from '../core/pixels.js';
import { readImage, writePng, type Fit } from './images.js';
import { loadTokenizer, readArtifactSource } from './model.js';
import { checkOutputs, defaultLimits, overLimit, pixelBudget, readInputFile, writeOutputFile, type Limits } from './files.js';
import { startNodeBackend } from './backend.js';
import { Progress } from '@gq/runtime/progress';
import type { Io } from './io.js';

export interface CommonOptions {
  readonly backend: string;
  readonly quiet: boolean;
  readonly json: boolean;
  /** Budgets for untrusted inputs. Default `defaultLimits`. */
  readonly limits?: Limits;
}

export interface BatchOptions extends CommonOptions {
  readonly model: string;
  readonly batchSize: number;
  /** Overwrite outputs that exist already (default false: refuse before any work). */
  readonly force?: boolean;
}

export interface EncodeOptions extends BatchOptions {
  readonly output?: string;
  readonly fit: Fit;
}

export interface DecodeOptions extends BatchOptions {
  readonly output?: string;
}

export interface RoundTripOptions extends BatchOptions {
  readonly output?: string;
  readonly fit: Fit;
  /** Also write the tokens of all images as one `.gqt` (images must share one size). */
  readonly saveTokens?: string;
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

function stem(path: string): string {
  return basename(path, extname(path));
}

async function withModel<T>(options: BatchOptions, io: Io, body: (tokenizer: Tokenizer) => Promise<T>): Promise<T> {
  const backend = await startNodeBackend(options.backend);
  if (!options.quiet && !options.json) io.err(`backend: ${backend.name} (${backend.detail})\n`);
  const tokenizer = await loadTokenizer(options.model, options.limits ?? defaultLimits);
  try {
    return await body(tokenizer);
  } finally {
    tokenizer.dispose();
  }
}

/** Progress over images on stderr, when there is more than one and the output is not quiet or JSON. */
function imageProgress(io: Io, label: string, total: number, options: CommonOptions): Progress {
  return new Progress({
    total,
    label,
    unit: 'images',
    stream: { write: io.err, isTTY: io.errIsTty },
    enabled: total > 1 && !options.quiet && !options.json,
  });
}

/** Consecutive runs of equally sized images, at most `size` long: one tensor batch each. */
function batchesOf(images: readonly Pixels[], size: number): Array<{ start: number; images: Pixels[] }> {
  const batches: Array<{ start: number; images: Pixels[] }> = [];
  images.forEach((image, i) => {
    const last = batches[batches.length - 1];
    const first = last?.images[0];
    if (last !== undefined && first !== undefined && last.images.length < size && first.width === image.width && first.height === image.height) {
      last.images.push(image);
    } else {
      batches.push({ start: i, images: [image] });
    }
  });
  return batches;
}

async function readImages(paths: readonly string[], tokenizer: Tokenizer, fit: Fit, limits: Limits): Promise<Pixels[]> {
  const images: Pixels[] = [];
  const budget = pixelBudget(limits, tokenizer.image.width * tokenizer.image.height);
  for (const path of paths) {
    const image = await readImage(path, { width: tokenizer.image.width, height: tokenizer.image.height, fit, limits });
    if (fit === 'none') {
      const f = tokenizer.downsamplingFactor;
      const fixed = tokenizer.arch === 'vit';
      if (fixed ? image.width !== tokenizer.image.width || image.height !== tokenizer.image.height : image.width % f !== 0 || image.height % f !== 0) {
        const want = fixed ? `exactly ${tokenizer.image.width}×${tokenizer.image.height}` : `a multiple of ${f} on both sides`;
        throw new InferError('bad-image-size', `${path}: with --fit none the image must be ${want} for this model, got ${image.width}×${image.height} (use --fit cover to resize)`);
      }
      if (image.width * image.height > budget) overLimit('--max-pixels', `${path}: with --fit none, the ${image.width}×${image.height} image's pixel count`, image.width * image.height, budget);
    }
    images.push(image);
  }
  return images;
}

/** `gq encode`: images → `.gqt` (one file for the batch, or one per image). */
export async function encodeCommand(paths: readonly string[], options: EncodeOptions, io: Io): Promise<void> {
  const limits = options.limits ?? defaultLimits;
  const single = options.output !== undefined && options.output.toLowerCase().endsWith('.gqt');
  const outputDir = options.output !== undefined && !single ? options.output : null;
  if (outputDir !== null && !(await isDirectory(outputDir))) {
    if (!outputDir.endsWith('/')) throw new InferError('usage', `-o ${outputDir}: must be a .gqt file (one batch file) or an existing directory (one .gqt per image)`);
    await mkdir(outputDir, { recursive: true });
  }
  const outputs = single ? [options.output!] : paths.map((source) => join(outputDir ?? dirname(source), `${stem(source)}.gqt`));
  await checkOutputs(outputs, options.force === true);
  await withModel(options, io, async (tokenizer) => {
    const images = await readImages(paths, tokenizer, options.fit, limits);
    if (single && images.some((image) => image.width !== images[0]!.width || image.height !== images[0]!.height)) {
      throw new InferError('size-mismatch', `-o ${options.output}: one .gqt holds images of one size; with --fit none these differ (write one file per image with -o <dir>)`);
    }
    const progress = imageProgress(io, 'encode', images.length, options);
    const parts: Tokens[] = [];
    const written: Array<{ file: string; images: number; bytes: number; bpp: number }> = [];
    let done = 0;
    for (const batch of batchesOf(images, options.batchSize)) {
      const tokens = await encodePixels(tokenizer, batch.images);
      if (single) {
        parts.push(tokens);
      } else {
        for (let i = 0; i < batch.images.length; i++) {
          const file = outputs[batch.start + i]!;
          const bytes = writeTokenFile(sliceTokens(tokens, i), tokenizer);
          await writeOutputFile(file, bytes);
          const image = batch.images[i]!;
          written.push({ file, images: 1, bytes: bytes.byteLength, bpp: (8 * bytes.byteLength) / (image.width * image.height) });
        }
      }
      done += batch.images.length;
      progress.update(done);
    }
    if (single) {
      const bytes = writeTokenFile(concatTokens(parts), tokenizer);
      await writeOutputFile(options.output!, bytes);
      const pixels = images.reduce((sum, image) => sum + image.width * image.height, 0);
      written.push({ file: options.output!, images: images.length, bytes: bytes.byteLength, bpp: (8 * bytes.byteLength) / pixels });
    }
    if (options.json) io.out(`${JSON.stringify({ files: written, bitsPerPixel: tokenizer.bitsPerPixel }, null, 2)}\n`);
    else if (!options.quiet) for (const w of written) io.out(`wrote ${w.file}: ${w.images} image${w.images === 1 ? '' : 's'}, ${w.bytes} bytes (${w.bpp.toFixed(3)} bpp with header, ${tokenizer.bitsPerPixel} bpp tokens)\n`);
  });
}

/** `gq decode`: a `.gqt` → PNG file(s). */
export async function decodeCommand(path: string, options: DecodeOptions, io: Io): Promise<void> {
  const limits = options.limits ?? defaultLimits;
  const bytes = await readInputFile(path, 'token file', limits);
  // The header alone names the outputs, so they are checked before the model is loaded.
  let header: ReturnType<typeof readTokenFile>['header'];
  try {
    header = readTokenFile(bytes).header;
  } catch (error) {
    throw new InferError('bad-token-file', `${path}: not a valid token file: ${errorMessage(error)}`, { cause: error });
  }
  const batch = header.imageShape[0];
  const output = options.output;
  const toPng = output !== undefined && output.toLowerCase().endsWith('.png');
  if (toPng && batch !== 1) throw new InferError('usage', `-o ${output}: the token file holds ${batch} images; pass a directory to write one PNG per image`);
  const dir = output === undefined ? dirname(path) : toPng ? dirname(output) : output;
  await mkdir(dir, { recursive: true });
  const digits = String(batch - 1).length;
  const names = Array.from({ length: batch }, (_, i) =>
    toPng ? output! : join(dir, batch === 1 ? `${stem(path)}.png` : `${stem(path)}-${String(i).padStart(digits, '0')}.png`),
  );
  await checkOutputs(names, options.force === true);
  await withModel(options, io, async (tokenizer) => {
    let file: ReturnType<typeof readTokenFile>;
    try {
      file = readTokenFile(bytes, { tokenizer });
    } catch (error) {
      const hint = isGqError(error) && error.code === 'artifact-mismatch' ? ' (this token file was written with another model: pass that model with --model)' : '';
      throw new InferError('bad-token-file', `${path}: not a valid token file for this model: ${errorMessage(error)}${hint}`, { cause: error });
    }
    const [, height, width] = file.header.imageShape;
    const budget = pixelBudget(limits, tokenizer.image.width * tokenizer.image.height);
    if (height * width > budget) overLimit('--max-pixels', `${path}: the pixel count of the ${width}×${height} image it declares`, height * width, budget);
    const progress = imageProgress(io, 'decode', batch, options);
    for (let start = 0; start < batch; start += options.batchSize) {
      const count = Math.min(options.batchSize, batch - start);
      const pictures = await decodePixels(tokenizer, sliceTokens(file.tokens, start, count));
      for (let i = 0; i < count; i++) await writePng(names[start + i]!, pictures[i]!);
      progress.update(start + count);
    }
    if (options.json) io.out(`${JSON.stringify({ files: names }, null, 2)}\n`);
    else if (!options.quiet) io.out(`wrote ${batch === 1 ? names[0] : `${batch} PNG files to ${dir}`}\n`);
  });
}

export interface RoundTripRow {
  readonly file: string;
  readonly psnr: number;
  readonly ssim: number | null;
  readonly bitsPerPixel: number;
}

/** `gq roundtrip`: encode + decode each image, print PSNR, SSIM, bpp and timing. */
export async function roundTripCommand(paths: readonly string[], options: RoundTripOptions, io: Io): Promise<void> {
  const limits = options.limits ?? defaultLimits;
  if (options.output !== undefined) await mkdir(options.output, { recursive: true });
  const pngs = options.output === undefined ? [] : paths.map((file) => join(options.output!, `${stem(file)}.png`));
  await checkOutputs([...pngs, ...(options.saveTokens === undefined ? [] : [options.saveTokens])], options.force === true);
  await withModel(options, io, async (tokenizer) => {
    const images = await readImages(paths, tokenizer, options.fit, limits);
    const progress = imageProgress(io, 'roundtrip', images.length, options);
    if (options.saveTokens !== undefined && images.some((image) => image.width !== images[0]!.width || image.height !== images[0]!.height)) {
      throw new InferError('size-mismatch', `--save-tokens ${options.saveTokens}: one .gqt holds images of one size; with --fit none these differ`);
    }
    const rows: RoundTripRow[] = [];
    const parts: Tokens[] = [];
    let encodeMs = 0;
    let decodeMs = 0;
    for (const batch of batchesOf(images, options.batchSize)) {
      const result = await roundTrip(tokenizer, batch.images);
      parts.push(result.tokens);
      encodeMs += result.encodeMs;
      decodeMs += result.decodeMs;
      for (let i = 0; i < batch.images.length; i++) {
        const file = paths[batch.start + i]!;
        rows.push({ file, psnr: result.psnr[i]!, ssim: result.ssim === null ? null : result.ssim[i]!, bitsPerPixel: tokenizer.bitsPerPixel });
        if (options.output !== undefined) await writePng(pngs[batch.start + i]!, result.reconstructions[i]!);
      }
      progress.update(rows.length);
    }
    if (options.saveTokens !== undefined) await writeOutputFile(options.saveTokens, writeTokenFile(concatTokens(parts), tokenizer));
    const mean = (values: number[]): number => values.reduce((a, b) => a + b, 0) / values.length;
    const ssims = rows.map((r) => r.ssim).filter((v): v is number => v !== null);
    const summary = {
      backend: tf.getBackend(),
      images: rows,
      mean: { psnr: mean(rows.map((r) => r.psnr)), ssim: ssims.length === rows.length ? mean(ssims) : null, bitsPerPixel: tokenizer.bitsPerPixel },
      encodeMs,
      decodeMs,
      encodeImagesPerSecond: (1000 * rows.length) / encodeMs,
      decodeImagesPerSecond: (1000 * rows.length) / decodeMs,
    };
    if (options.json) {
      io.out(`${JSON.stringify(summary, null, 2)}\n`);
      return;
    }
    const width = Math.max(5, ...rows.map((r) => basename(r.file).length));
    const line = (name: string, p: string, s: string, b: string): string => `${name.padEnd(width)}  ${p.padStart(8)}  ${s.padStart(7)}  ${b.padStart(6)}\n`;
    io.out(line('image', 'PSNR dB', 'SSIM', 'bpp'));
    for (const r of rows) io.out(line(basename(r.file), r.psnr.toFixed(3), r.ssim === null ? 'n/a' : r.ssim.toFixed(4), r.bitsPerPixel.toFixed(3)));
    io.out(line('mean', summary.mean.psnr.toFixed(3), summary.mean.ssim === null ? 'n/a' : summary.mean.ssim.toFixed(4), tokenizer.bitsPerPixel.toFixed(3)));
    io.out(`time: encode ${encodeMs.toFixed(1)} ms (${summary.encodeImagesPerSecond.toFixed(1)} images/s), decode ${decodeMs.toFixed(1)} ms (${summary.decodeImagesPerSecond.toFixed(1)} images/s) on ${summary.backend}\n`);
  });
}

function startsWith(bytes: Uint8Array, magic: readonly number[]): boolean {
  return bytes.byteLength >= magic.length && magic.every((b, i) => bytes[i] === b);
}

/** `gq info`: summary of a tokenizer artifact (.gqtok or directory) or of a `.gqt` token file. */
export async function infoCommand(path: string, options: Pick<CommonOptions, 'json' | 'limits'>, io: Io): Promise<void> {
  const source = await readArtifactSource(path, options.limits ?? defaultLimits);
  let rows: ReturnType<typeof artifactRows>;
  let json: unknown;
  try {
    if (source instanceof Uint8Array && startsWith(source, TOKEN_FILE_MAGIC)) {
      const { header } = readTokenFile(source);
      rows = tokenFileRows(header, source.byteLength);
      json = { kind: 'token-file', bytes: source.byteLength, header };
    } else if (source instanceof Uint8Array && !startsWith(source, ARTIFACT_MAGIC)) {
      const seen = Array.from(source.subarray(0, 8), (b) => b.toString(16).padStart(2, '0')).join(' ');
      throw new InferError('unknown-file', `must be a .gqtok artifact (starts 89 47 51 54 4f 4b 0d 0a), an artifact directory or a .gqt token file (starts 89 47 51 54 0d 0a 1a 0a), got a file starting ${seen}`);
    } else {
      const artifact = source instanceof Uint8Array ? unpackArtifact(source) : { manifestJson: source.manifest, weights: source.weights };
      const { manifest } = resolveManifest('gq info', artifact.manifestJson);
      const id = await computeArtifactId('gq info', manifest, artifact.weights);
      if (id !== manifest.artifactId) {
        throw new InferError('artifact-id-mismatch', `the manifest's artifactId ${manifest.artifactId} must be the SHA-256 of its core and weights, computed ${id} (the weights or manifest were changed)`);
      }
      rows = artifactRows(manifest, artifact.weights.byteLength).map(([k, v]) => [k, k === 'artifact id' ? `${v} (verified)` : v] as const);
      json = { kind: 'artifact', weightsBytes: artifact.weights.byteLength, verified: true, manifest };
    }
  } catch (error) {
    throw new InferError('bad-file', `${path}: ${errorMessage(error)}`, { cause: error });
  }
  io.out(options.json ? `${JSON.stringify(json, null, 2)}\n` : `${formatRows(rows)}\n`);
}
