import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build, preview, type PreviewServer } from 'vite';
import { chromium, type Browser, type Page } from 'playwright-core';
import { readTokenFile } from '@gq/tokenizer';
import { useBackend } from '@gq/runtime';
import { run } from '../src/cli.js';
import { tokenAgreement } from '../src/core/tokens.js';
import { captureIo, makeArtifact, syntheticPixels, tempDir, writeBytes, writePngFile } from './helpers.js';

const appRoot = fileURLToPath(new URL('..', import.meta.url));
const screenshotPath = fileURLToPath(new URL('../../../docs/infer-page.png', import.meta.url));
const executablePath = process.env.GQ_CHROMIUM ?? '/usr/bin/chromium';
const haveChromium = existsSync(executablePath);
/** PLATFORM.md: without the background-networking flags Chromium keeps dialling out on this closed network. */
const baseFlags = ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'];
const webgpuFlags = ['--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-vulkan=swiftshader', '--use-webgpu-adapter=swiftshader'];

describe('browser page (Vite build, headless Chromium)', () => {
  it('has Chromium where the tests must run it (.ci/run installs it)', () => {
    if (!haveChromium && process.env.CI === undefined) console.warn(`browser tests skipped: no Chromium at ${executablePath} (apt-get install chromium)`);
    expect(haveChromium || process.env.CI === undefined).toBe(true);
  });

  describe.runIf(haveChromium)('with Chromium', () => {
    let server: PreviewServer;
    let url: string;
    let dir: string;
    let image: string;
    let cliTokens: Int32Array;
    let cliPsnr: number;
    const browsers: Browser[] = [];
    let pageErrors: string[] = [];

    async function open(query: string, flags: string[] = []): Promise<Page> {
      const browser = await chromium.launch({ executablePath, headless: true, args: [...baseFlags, ...flags] });
      browsers.push(browser);
      const page = await browser.newPage({ viewport: { width: 1100, height: 760 }, acceptDownloads: true });
      pageErrors = [];
      page.on('pageerror', (error) => pageErrors.push(error.message));
      await page.goto(`${url}?${query}`);
      return page;
    }

    async function settled(page: Page): Promise<string> {
      await page.waitForFunction(() => document.body.dataset.state === 'done' || document.body.dataset.state === 'error', undefined, { timeout: 60_000 });
      return (await page.getAttribute('body', 'data-state'))!;
    }

    async function tokenizeAndDownload(page: Page): Promise<Int32Array> {
      await page.setInputFiles('#image-file', image);
      expect(await settled(page), await page.textContent('#error') ?? '').toBe('done');
      const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
      expect(download.suggestedFilename()).toBe('photo.gqt');
      return readTokenFile(readFileSync((await download.path())!)).tokens.indices;
    }

    beforeAll(async () => {
      dir = tempDir('web');
      const outDir = join(dir, 'site');
      await build({ configFile: join(appRoot, 'vite.config.ts'), root: join(appRoot, 'web'), logLevel: 'error', build: { outDir, emptyOutDir: true } });
      await useBackend('cpu');
      writeBytes(join(outDir, 'tiny.gqtok'), await makeArtifact(1));
      image = join(dir, 'photo.png');
      await writePngFile(image, syntheticPixels(0, 16, 16), 16, 16);
      const io = captureIo();
      const code = await run(['roundtrip', image, '-m', join(outDir, 'tiny.gqtok'), '--backend', 'wasm', '--json', '--save-tokens', join(dir, 'cli.gqt')], io);
      expect(code, io.stderr()).toBe(0);
      cliTokens = readTokenFile(readFileSync(join(dir, 'cli.gqt'))).tokens.indices;
      cliPsnr = (JSON.parse(io.stdout()) as { images: Array<{ psnr: number }> }).images[0]!.psnr;
      server = await preview({ configFile: join(appRoot, 'vite.config.ts'), root: join(appRoot, 'web'), logLevel: 'error', build: { outDir }, preview: { port: 0, host: '127.0.0.1', strictPort: false } });
      url = server.resolvedUrls!.local[0]!;
    });

    afterAll(async () => {
      for (const browser of browsers) await browser.close();
      await server?.close();
    });

    it('tokenizes a fixture image on wasm (threads, cross-origin isolated) with the CLI\'s tokens, and downloads the .gqt', async () => {
      const page = await open('model=tiny.gqtok&backend=wasm');
      expect(await settled(page)).toBe('done');
      expect(await page.evaluate(() => globalThis.crossOriginIsolated)).toBe(true);
      expect(await page.textContent('#backend-info')).toMatch(/^wasm: up to \d threads/);
      expect(await page.textContent('#model-info')).toContain('16×16×3');
      const tokens = await tokenizeAndDownload(page);
      expect(tokenAgreement(tokens, cliTokens).differing).toBe(0);
      const psnr = Number.parseFloat((await page.textContent('dd[data-stat="PSNR"]'))!);
      expect(Math.abs(psnr - cliPsnr)).toBeLessThan(0.0015);
      expect(await page.isVisible('#grid')).toBe(true);
      const shot = await page.screenshot({ fullPage: true });
      expect(Array.from(shot.subarray(0, 4))).toEqual([0x89, 0x50, 0x4e, 0x47]);
      if (process.env.GQ_UPDATE_SCREENSHOT === '1' || !existsSync(screenshotPath)) writeBytes(screenshotPath, shot);
      expect(pageErrors).toEqual([]);
    });

    it('shows bad input as a message and keeps working (no crash)', async () => {
      const page = await open('backend=cpu');
      expect(await settled(page)).toBe('done');
      await page.setInputFiles('#image-file', image);
      expect(await settled(page)).toBe('error');
      expect(await page.textContent('#error')).toContain('load a tokenizer artifact first');
      await page.setInputFiles('#model-file', image);
      expect(await settled(page)).toBe('error');
      expect(await page.textContent('#error')).toMatch(/photo\.png is not a usable tokenizer artifact: .*\.gqtok magic/);
      const truncated = join(dir, 'cut.gqtok');
      writeBytes(truncated, readFileSync(join(dir, 'site', 'tiny.gqtok')).subarray(0, 3000));
      await page.setInputFiles('#model-file', truncated);
      expect(await settled(page)).toBe('error');
      expect(await page.textContent('#error')).toMatch(/got 3000 bytes/);
      await page.fill('#model-url', 'missing.gqtok');
      await page.click('#model-load');
      expect(await settled(page)).toBe('error');
      expect(await page.textContent('#error')).toMatch(/HTTP 404/);
      await page.setInputFiles('#model-file', join(dir, 'site', 'tiny.gqtok'));
      expect(await settled(page)).toBe('done');
      const text = join(dir, 'notes.png');
      copyFileSync(join(dir, 'site', 'index.html'), text);
      await page.setInputFiles('#image-file', text);
      expect(await settled(page)).toBe('error');
      expect(await page.textContent('#error')).toMatch(/notes\.png: not an image this browser can decode/);
      expect(await tokenizeAndDownload(page)).toEqual(cliTokens);
      expect(pageErrors).toEqual([]);
    });

    it('runs on WebGPU (SwiftShader) with ≥ 99.9 % token agreement and PSNR within 0.05 dB', async () => {
      const page = await open('model=tiny.gqtok&backend=webgpu', webgpuFlags);
      expect(await settled(page), await page.textContent('#error') ?? '').toBe('done');
      expect(await page.getAttribute('body', 'data-backend')).toBe('webgpu');
      const tokens = await tokenizeAndDownload(page);
      expect(tokenAgreement(tokens, cliTokens).rate).toBeGreaterThanOrEqual(0.999);
      const psnr = Number.parseFloat((await page.textContent('dd[data-stat="PSNR"]'))!);
      expect(Math.abs(psnr - cliPsnr)).toBeLessThan(0.05);
      expect(pageErrors).toEqual([]);
    });
  });
});
