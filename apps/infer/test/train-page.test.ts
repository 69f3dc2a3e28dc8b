import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { build, preview, type PreviewServer } from 'vite';
import { chromium, type Browser } from 'playwright-core';
import { Tokenizer } from '@gq/tokenizer';
import { useBackend } from '@gq/runtime';
import { run } from '../src/cli.js';
import { captureIo, syntheticPixels, tempDir, writeBytes, writePngFile } from './helpers.js';

const appRoot = fileURLToPath(new URL('..', import.meta.url));
const screenshotPath = fileURLToPath(new URL('../../../docs/train-page.png', import.meta.url));
const executablePath = process.env.GQ_CHROMIUM ?? '/usr/bin/chromium';
const haveChromium = existsSync(executablePath);
const flags = [
  '--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic',
  '--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-vulkan=swiftshader', '--use-webgpu-adapter=swiftshader',
];

describe.runIf(haveChromium)('training page (Vite build, headless Chromium, WebGPU on SwiftShader)', () => {
  let server: PreviewServer | undefined;
  let browser: Browser | undefined;

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('trains 2 steps on WebGPU, shows loss, bits and band share and a reconstruction grid, and its .gqtok loads in the CLI', async () => {
    const dir = tempDir('train-page');
    const outDir = join(dir, 'site');
    await build({ configFile: join(appRoot, 'vite.config.ts'), root: join(appRoot, 'web'), logLevel: 'error', build: { outDir, emptyOutDir: true } });
    expect(existsSync(join(outDir, 'train.html'))).toBe(true);
    server = await preview({ configFile: join(appRoot, 'vite.config.ts'), root: join(appRoot, 'web'), logLevel: 'error', build: { outDir }, preview: { port: 0, host: '127.0.0.1', strictPort: false } });
    browser = await chromium.launch({ executablePath, headless: true, args: flags });
    const page = await browser.newPage({ viewport: { width: 1100, height: 760 }, acceptDownloads: true });
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(`${server.resolvedUrls!.local[0]!}train.html?backend=webgpu&steps=2&batch=2&autostart=1`);
    await page.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.state ?? ''), undefined, { timeout: 150_000 });
    expect(await page.getAttribute('body', 'data-state'), (await page.textContent('#error')) ?? '').toBe('done');
    expect(await page.getAttribute('body', 'data-backend')).toBe('webgpu');
    expect(await page.textContent('dd[data-key="step"]')).toBe('2 / 2');
    const loss = Number(await page.textContent('dd[data-key="loss"]'));
    // The per-pixel loss of an untrained tiny UNet on [−1, 1] images: positive and about 0.5–1.
    expect(loss).toBeGreaterThan(0.05);
    expect(loss).toBeLessThan(3);
    expect(await page.textContent('dd[data-key^="KL bits"]')).toMatch(/^\d+\.\d\d \[\d+\.\d, \d+\.\d\]$/);
    expect(await page.textContent('dd[data-key^="in band"]')).toMatch(/^\d+ %$/);
    expect(await page.evaluate(() => [document.querySelector<HTMLCanvasElement>('#grid')!.width, document.querySelector<HTMLCanvasElement>('#grid')!.height])).toEqual([8 * 96, 2 * 96]);
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
    expect(download.suggestedFilename()).toBe('tokenizer.gqtok');
    const model = writeBytes(join(dir, 'tokenizer.gqtok'), readFileSync((await download.path())!));
    const shot = await page.screenshot({ fullPage: true });
    if (process.env.GQ_UPDATE_SCREENSHOT === '1' || !existsSync(screenshotPath)) writeBytes(screenshotPath, shot);
    expect(errors).toEqual([]);

    // The artifact loads in Node and in the CLI: a 32×32 tokenizer with the page's codebook (K = 2^8, m = 4).
    await useBackend('cpu');
    const tokenizer = await Tokenizer.load(readFileSync(model));
    expect([tokenizer.image.height, tokenizer.codebook.size, tokenizer.codebook.dim]).toEqual([32, 256, 4]);
    tokenizer.dispose();
    const image = join(dir, 'photo.png');
    await writePngFile(image, syntheticPixels(3, 32, 32), 32, 32);
    const io = captureIo();
    expect(await run(['roundtrip', image, '-m', model, '--backend', 'cpu', '--json'], io), io.stderr()).toBe(0);
    expect((JSON.parse(io.stdout()) as { images: unknown[] }).images).toHaveLength(1);
  }, 300_000);
});
