import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { crc32 } from 'node:zlib';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { unpackArtifact, writeTokenFile } from '@gq/tokenizer';
import { useBackend } from '@gq/runtime';
import { run } from '../src/cli.js';
import { captureIo, makeArtifact, syntheticPixels, tempDir, writeBytes, writePngFile } from './helpers.js';

const side = 16;
let dir: string;
let model: string;
let gqtok: Uint8Array;
let image: string;

async function gq(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string; ms: number }> {
  const io = captureIo();
  const started = Date.now();
  const code = await run(argv, io);
  return { code, stdout: io.stdout(), stderr: io.stderr(), ms: Date.now() - started };
}

/** A PNG whose header declares width × height but holds no pixel data: only its header can be read. */
function pngHeaderOnly(width: number, height: number): Uint8Array {
  const chunk = (type: string, body: Uint8Array): Uint8Array => {
    const out = new Uint8Array(12 + body.length);
    const view = new DataView(out.buffer);
    view.setUint32(0, body.length);
    out.set(new TextEncoder().encode(type), 4);
    out.set(body, 8);
    view.setUint32(8 + body.length, crc32(out.subarray(4, 8 + body.length)));
    return out;
  };
  const ihdr = new Uint8Array(13);
  new DataView(ihdr.buffer).setUint32(0, width);
  new DataView(ihdr.buffer).setUint32(4, height);
  ihdr.set([8, 2, 0, 0, 0], 8);
  // PNG chunk CRCs are the IEEE CRC-32 (zlib's) of type and body.
  return Buffer.concat([Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a), chunk('IHDR', ihdr), chunk('IDAT', Uint8Array.of(0x78, 0x9c)), chunk('IEND', new Uint8Array(0))]);
}

beforeAll(async () => {
  await useBackend('cpu');
  dir = tempDir('untrusted');
  gqtok = await makeArtifact(3);
  model = writeBytes(join(dir, 'tiny.gqtok'), gqtok);
  image = join(dir, 'img.png');
  await writePngFile(image, syntheticPixels(1, side, side), side, side);
});

describe('gq works within size limits', () => {
  it('refuses a small token file that declares a 1024×1024 image before decoding it', async () => {
    // The model is 16×16 with f = 2: 512×512 tokens of 8 bits make a 256 KiB file.
    const { manifest } = unpackArtifact(gqtok);
    const tokens = { indices: new Int32Array(512 * 512), shape: [1, 512, 512, 1] as const, bitsPerToken: 8 };
    const file = writeBytes(join(dir, 'huge.gqt'), writeTokenFile(tokens, manifest));
    const result = await gq('decode', file, '-m', model, '--backend', 'cpu', '-q');
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/huge\.gqt: the pixel count of the 1024×1024 image it declares is 1048576, more than the limit of 262144 \(raise it with --max-pixels\)/);
    expect(existsSync(join(dir, 'huge.png'))).toBe(false);
  });

  it('refuses a 16000×16000 PNG from its header, with --fit none or not', async () => {
    const bomb = writeBytes(join(dir, 'bomb.png'), pngHeaderOnly(16000, 16000));
    for (const fit of ['none', 'cover']) {
      const result = await gq('encode', bomb, '-m', model, '--backend', 'cpu', '-q', '--fit', fit, '-o', join(dir, `bomb-${fit}.gqt`));
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/bomb\.png: the image's pixel count is 256000000, more than the limit of 50000000 \(raise it with --max-input-pixels\)/);
    }
    const big = join(dir, 'big.png');
    await writePngFile(big, syntheticPixels(2, 64, 64), 64, 64);
    const none = await gq('encode', big, '-m', model, '--backend', 'cpu', '-q', '--fit', 'none', '--max-pixels', '1024', '-o', join(dir, 'big.gqt'));
    expect(none.stderr).toMatch(/the 64×64 image's pixel count is 4096, more than the limit of 1024/);
  });

  it('reads only regular files: /dev/zero, weights linked to it, a FIFO and an oversized file are refused at once', async () => {
    const zero = await gq('info', '/dev/zero');
    expect(zero.code).toBe(1);
    expect(zero.stderr).toMatch(/\/dev\/zero: the model must be a regular file, got a device/);
    const folder = join(dir, 'linked');
    mkdirSync(folder);
    writeBytes(join(folder, 'manifest.json'), '{}');
    symlinkSync('/dev/zero', join(folder, 'weights.safetensors'));
    const linked = await gq('encode', image, '-m', folder, '--backend', 'cpu', '-q', '-o', join(dir, 'linked.gqt'));
    expect(linked.code).toBe(1);
    expect(linked.stderr).toMatch(/weights\.safetensors: the weights must be a regular file, got a device/);
    const fifo = join(dir, 'pipe.gqt');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const piped = await gq('decode', fifo, '-m', model, '--backend', 'cpu', '-q');
    expect(piped.code).toBe(1);
    expect(piped.stderr).toMatch(/pipe\.gqt: the token file must be a regular file, got a FIFO/);
    expect(piped.ms).toBeLessThan(5000);
    const large = await gq('info', model, '--max-input-bytes', '100');
    expect(large.stderr).toMatch(/tiny\.gqtok: the model's size in bytes is \d+, more than the limit of 100 \(raise it with --max-input-bytes\)/);
  });
});

describe('gq outputs are checked before any work and written atomically', () => {
  it('refuses to overwrite an existing output without --force, and overwrites it with', async () => {
    const out = join(dir, 'once.gqt');
    expect((await gq('encode', image, '-m', model, '--backend', 'cpu', '-q', '-o', out)).code).toBe(0);
    const first = readFileSync(out);
    const again = await gq('encode', image, '-m', model, '--backend', 'cpu', '-q', '-o', out);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/once\.gqt: the output exists already; pass --force to overwrite it/);
    expect(again.stderr).not.toMatch(/backend:/);
    const forced = await gq('encode', image, '-m', model, '--backend', 'cpu', '-q', '-o', out, '--force');
    expect(forced.code).toBe(0);
    expect(readFileSync(out)).toEqual(first);
    // The temporary file was renamed over the output: nothing else is left in the folder.
    expect(readdirSync(dir).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  });

  it('refuses duplicate output names before loading the model', async () => {
    const a = join(dir, 'a');
    const b = join(dir, 'b');
    mkdirSync(a);
    mkdirSync(b);
    await writePngFile(join(a, 'same.png'), syntheticPixels(3, side, side), side, side);
    await writePngFile(join(b, 'same.png'), syntheticPixels(4, side, side), side, side);
    const outDir = join(dir, 'out');
    mkdirSync(outDir);
    const result = await gq('encode', join(a, 'same.png'), join(b, 'same.png'), '-m', join(dir, 'no-such-model.gqtok'), '--backend', 'cpu', '-q', '-o', outDir);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/same\.gqt: two outputs would have this name/);
    expect(readdirSync(outDir)).toEqual([]);
  });

  it('checks the output folder before loading the model or encoding', async () => {
    const result = await gq('encode', image, '-m', join(dir, 'no-such-model.gqtok'), '--backend', 'cpu', '-q', '-o', join(dir, 'missing', 'x.gqt'));
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/x\.gqt: the output folder .*missing must exist, got none/);
  });
});
