import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import sharp from 'sharp';
import { Tokenizer, readTokenFile, unpackArtifact } from '@gq/tokenizer';
import { useBackend } from '@gq/runtime';
import { run } from '../src/cli.js';
import { captureIo, makeArtifact, syntheticPixels, tempDir, writeBytes, writePngFile } from './helpers.js';

const bin = fileURLToPath(new URL('../bin/gq.mjs', import.meta.url));
const side = 16;
let dir: string;
let model: string;
let otherModel: string;
let images: string[];
let gqtok: Uint8Array;

async function gq(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const io = captureIo();
  const code = await run(argv, io);
  return { code, stdout: io.stdout(), stderr: io.stderr() };
}

/** Float64 reference: v/127.5 − 1 of the bytes the test wrote, as the tokenizer's input. */
function expectedInput(seed: number): tf.Tensor4D {
  const bytes = syntheticPixels(seed, side, side);
  return tf.tensor4d(Float32Array.from(bytes, (v) => v / 127.5 - 1), [1, side, side, 3]);
}

beforeAll(async () => {
  await useBackend('cpu');
  dir = tempDir('cli');
  gqtok = await makeArtifact(1);
  model = writeBytes(join(dir, 'tiny.gqtok'), gqtok);
  otherModel = writeBytes(join(dir, 'other.gqtok'), await makeArtifact(2));
  images = [];
  for (let i = 0; i < 3; i++) {
    images.push(join(dir, `img${i}.png`));
    await writePngFile(images[i]!, syntheticPixels(i, side, side), side, side);
  }
});

describe('gq encode / decode', () => {
  it('writes one .gqt for a batch whose tokens equal Tokenizer.encode on the same pixels', async () => {
    const out = join(dir, 'batch.gqt');
    const result = await gq('encode', ...images, '-m', model, '-o', out, '--backend', 'cpu');
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('3 images');
    expect(result.stderr).toMatch(/encode 3\/3 images/);
    const tokenizer = await Tokenizer.load(gqtok);
    try {
      const file = readTokenFile(readFileSync(out), { expectArtifactId: tokenizer.artifactId! });
      expect(file.tokens.shape).toEqual([3, 8, 8, 1]);
      for (let i = 0; i < 3; i++) {
        const x = expectedInput(i);
        const direct = await tokenizer.encode(x);
        x.dispose();
        expect(Array.from(file.tokens.indices.subarray(i * 64, (i + 1) * 64))).toEqual(Array.from(direct.indices));
      }
    } finally {
      tokenizer.dispose();
    }
  });

  it('writes one .gqt per image into a directory, each equal to its slice of the batch file', async () => {
    const out = join(dir, 'each/');
    const result = await gq('encode', ...images, '-m', model, '-o', out, '--backend', 'cpu', '-q', '--batch-size', '2');
    expect(result.code, result.stderr).toBe(0);
    const batch = readTokenFile(readFileSync(join(dir, 'batch.gqt'))).tokens.indices;
    for (let i = 0; i < 3; i++) {
      const one = readTokenFile(readFileSync(join(out, `img${i}.gqt`)));
      expect(one.header.imageShape).toEqual([1, side, side, 3]);
      expect(Array.from(one.tokens.indices)).toEqual(Array.from(batch.subarray(i * 64, (i + 1) * 64)));
    }
  });

  it('decodes to PNGs equal to round((decode(tokens) + 1)·127.5) clamped', async () => {
    const out = join(dir, 'decoded');
    const result = await gq('decode', join(dir, 'batch.gqt'), '-m', model, '-o', out, '--backend', 'cpu', '-q');
    expect(result.code, result.stderr).toBe(0);
    const tokenizer = await Tokenizer.load(gqtok);
    try {
      const { tokens } = readTokenFile(readFileSync(join(dir, 'batch.gqt')));
      const y = await tokenizer.decode(tokens);
      const values = await y.data();
      y.dispose();
      for (let i = 0; i < 3; i++) {
        const { data, info } = await sharp(join(out, `batch-${i}.png`)).raw().toBuffer({ resolveWithObject: true });
        expect([info.width, info.height, info.channels]).toEqual([side, side, 3]);
        const per = side * side * 3;
        let worst = 0;
        for (let k = 0; k < per; k++) {
          const expected = Math.min(255, Math.max(0, Math.round((values[i * per + k]! + 1) * 127.5)));
          worst = Math.max(worst, Math.abs(expected - data[k]!));
        }
        // Exact: same backend, same float32 values, same rounding rule; PNG is lossless.
        expect(worst).toBe(0);
      }
    } finally {
      tokenizer.dispose();
    }
  });

  it('roundtrip prints PSNR equal to a float64 oracle on the clamped reconstruction, SSIM and bpp', async () => {
    const result = await gq('roundtrip', images[0]!, '-m', model, '--backend', 'cpu', '--json');
    expect(result.code, result.stderr).toBe(0);
    const summary = JSON.parse(result.stdout) as { images: Array<{ psnr: number; ssim: number; bitsPerPixel: number }>; encodeImagesPerSecond: number };
    const tokenizer = await Tokenizer.load(gqtok);
    const x = expectedInput(0);
    try {
      const y = await tokenizer.reconstruct(x);
      const [a, b] = [await x.data(), await y.data()];
      y.dispose();
      let sum = 0;
      for (let k = 0; k < a.length; k++) {
        const d = (a[k]! - Math.min(1, Math.max(-1, b[k]!))) * 127.5;
        sum += d * d;
      }
      const oracle = 10 * Math.log10((255 * 255) / (sum / a.length));
      // float32 row sums of ≤ 48 squared terms inside psnr: relative error ~1e-6 → ~1e-5 dB.
      expect(Math.abs(summary.images[0]!.psnr - oracle)).toBeLessThan(1e-3);
    } finally {
      x.dispose();
      tokenizer.dispose();
    }
    expect(summary.images[0]!.ssim).toBeGreaterThan(-1);
    expect(summary.images[0]!.ssim).toBeLessThan(1);
    // 1 token of log2 256 = 8 bits per 2×2 pixels.
    expect(summary.images[0]!.bitsPerPixel).toBe(2);
    expect(summary.encodeImagesPerSecond).toBeGreaterThan(0);

    const table = await gq('roundtrip', ...images, '-m', model, '--backend', 'cpu');
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^image\s+PSNR dB\s+SSIM\s+bpp$/m);
    expect(table.stdout).toMatch(/^mean\s+\d+\.\d{3}\s+-?\d\.\d{4}\s+2\.000$/m);
    expect(table.stdout).toMatch(/images\/s\), decode/);
  });

  it('resizes other sizes to the model size (cover) and keeps them with --fit none', async () => {
    const big = join(dir, 'big.png');
    await writePngFile(big, syntheticPixels(5, 40, 30), 40, 30);
    const covered = await gq('encode', big, '-m', model, '-o', join(dir, 'big.gqt'), '-q', '--backend', 'cpu');
    expect(covered.code, covered.stderr).toBe(0);
    expect(readTokenFile(readFileSync(join(dir, 'big.gqt'))).header.imageShape).toEqual([1, 16, 16, 3]);
    const native = await gq('encode', big, '-m', model, '-o', join(dir, 'big-native.gqt'), '-q', '--fit', 'none', '--backend', 'cpu');
    expect(native.code, native.stderr).toBe(0);
    expect(readTokenFile(readFileSync(join(dir, 'big-native.gqt'))).header.latentGrid).toEqual([15, 20]);
    const odd = join(dir, 'odd.png');
    await writePngFile(odd, syntheticPixels(6, 15, 15), 15, 15);
    const bad = await gq('encode', odd, '-m', model, '--fit', 'none', '-q', '--backend', 'cpu');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('multiple of 2');
  });

  it('info summarises an artifact and a token file', async () => {
    const artifact = await gq('info', model);
    expect(artifact.code).toBe(0);
    expect(artifact.stdout).toMatch(/image\s+16×16×3/);
    expect(artifact.stdout).toMatch(/rate\s+512 bits per image = 2 bpp/);
    expect(artifact.stdout).toMatch(/artifact id\s+[0-9a-f]{64} \(verified\)/);
    const tampered = Uint8Array.from(gqtok);
    tampered[tampered.length - 1] ^= 1;
    const bad = await gq('info', writeBytes(join(dir, 'tampered.gqtok'), tampered));
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/tampered\.gqtok: .*CRC-32|tampered\.gqtok: .*checksum/i);
    // A directory artifact whose weights were changed after export: the id no longer matches.
    const unpacked = unpackArtifact(gqtok);
    const folder = join(dir, 'artifact-dir');
    mkdirSync(folder, { recursive: true });
    writeBytes(join(folder, 'manifest.json'), unpacked.manifestJson);
    writeBytes(join(folder, 'weights.safetensors'), unpacked.weights);
    const fromDir = await gq('encode', images[0]!, '-m', folder, '-o', join(dir, 'from-dir.gqt'), '-q', '--backend', 'cpu');
    expect(fromDir.code, fromDir.stderr).toBe(0);
    expect(readFileSync(join(dir, 'from-dir.gqt'))).toEqual(readFileSync(join(dir, 'each', 'img0.gqt')));
    const changed = Uint8Array.from(unpacked.weights);
    changed[changed.length - 1] ^= 1;
    writeBytes(join(folder, 'weights.safetensors'), changed);
    const mismatch = await gq('info', folder);
    expect(mismatch.code).toBe(1);
    expect(mismatch.stderr).toMatch(/must be the SHA-256 of its core and weights/);
    const tokens = await gq('info', join(dir, 'batch.gqt'), '--json');
    const parsed = JSON.parse(tokens.stdout) as { kind: string; header: { imageShape: number[]; count: number } };
    expect(parsed.kind).toBe('token-file');
    expect(parsed.header.imageShape).toEqual([3, 16, 16, 3]);
    expect(parsed.header.count).toBe(192);
  });

  it('leaves no tensors behind', async () => {
    await useBackend('cpu');
    const before = tf.memory().numTensors;
    await gq('roundtrip', images[0]!, '-m', model, '--backend', 'cpu', '-q');
    await gq('decode', join(dir, 'batch.gqt'), '-m', model, '-o', join(dir, 'leak'), '--backend', 'cpu', '-q');
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('bad input: clear message, non-zero exit', () => {
  it('rejects a file that is not an image', async () => {
    const text = writeBytes(join(dir, 'notes.png'), 'not a picture\n');
    const result = await gq('encode', text, '-m', model, '--backend', 'cpu', '-q');
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/notes\.png: must be a PNG, JPEG, WebP, GIF, TIFF or AVIF image/);
  });

  it('rejects a model that is not an artifact, and a truncated artifact', async () => {
    const notModel = await gq('encode', images[0]!, '-m', images[1]!, '--backend', 'cpu');
    expect(notModel.code).toBe(1);
    expect(notModel.stderr).toMatch(/--model .*img1\.png is not a usable tokenizer artifact: .*\.gqtok magic/);
    const cut = writeBytes(join(dir, 'cut.gqtok'), gqtok.subarray(0, 4000));
    const truncated = await gq('decode', join(dir, 'batch.gqt'), '-m', cut, '--backend', 'cpu');
    expect(truncated.code).toBe(1);
    expect(truncated.stderr).toMatch(/cut\.gqtok is not a usable tokenizer artifact: .*got 4000 bytes/);
  });

  it('rejects a token file written by another model', async () => {
    const result = await gq('decode', join(dir, 'batch.gqt'), '-m', otherModel, '--backend', 'cpu');
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/batch\.gqt: not a valid token file for this model: .*written with another model/);
  });

  it('rejects truncated and corrupted token files', async () => {
    const bytes = readFileSync(join(dir, 'batch.gqt'));
    const cut = writeBytes(join(dir, 'cut.gqt'), bytes.subarray(0, bytes.length - 10));
    const truncated = await gq('decode', cut, '-m', model, '--backend', 'cpu');
    expect(truncated.code).toBe(1);
    expect(truncated.stderr).toMatch(/cut\.gqt: .*need 192 bytes, got 182/);
    const flipped = Uint8Array.from(bytes);
    flipped[flipped.length - 1] ^= 0xff;
    const corrupt = await gq('decode', writeBytes(join(dir, 'flip.gqt'), flipped), '-m', model, '--backend', 'cpu');
    expect(corrupt.code).toBe(1);
    expect(corrupt.stderr).toMatch(/CRC-32/);
    const info = await gq('info', images[0]!);
    expect(info.code).toBe(1);
    expect(info.stderr).toMatch(/got a file starting 89 50 4e 47/);
  });

  it('rejects usage errors with exit code 2', async () => {
    const unknown = await gq('encode', images[0]!, '-m', model, '--backend', 'metal');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/Allowed choices are auto, wasm, webgpu, cpu, tensorflow/);
    const missing = await gq('encode', images[0]!);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--model/);
    const multi = await gq('decode', join(dir, 'batch.gqt'), '-m', model, '-o', join(dir, 'one.png'), '--backend', 'cpu');
    expect(multi.code).toBe(1);
    expect(multi.stderr).toMatch(/holds 3 images; pass a directory/);
  });

  it('exits non-zero from the real binary (separate process)', () => {
    const missing = join(dir, 'missing.png');
    const result = spawnSync(process.execPath, [bin, 'encode', missing, '-m', model, '--backend', 'cpu'], { encoding: 'utf8', timeout: 60_000 });
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/missing\.png: cannot read the file/);
    expect(existsSync(join(dir, 'missing.gqt'))).toBe(false);
    writeFileSync(join(dir, 'done'), '');
  });
});
