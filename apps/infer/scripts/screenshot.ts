/*
 * Screenshot of the page tokenizing one image with a real tokenizer, for the README:
 *   node --conditions=@gq/source --import tsx apps/infer/scripts/screenshot.ts <model.gqtok> <image.png> [out.png]
 * Builds the page, serves it with Vite's preview server on 127.0.0.1, opens it in Debian's Chromium
 * (headless) on wasm, waits for the result and writes the screenshot (default docs/infer-page.png).
 */
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, preview } from 'vite';
import { chromium } from 'playwright-core';

const [model, image, out = fileURLToPath(new URL('../../../docs/infer-page.png', import.meta.url))] = process.argv.slice(2);
if (model === undefined || image === undefined) {
  console.error('usage: screenshot.ts <model.gqtok> <image> [out.png]');
  process.exit(2);
}
const appRoot = fileURLToPath(new URL('..', import.meta.url));
const site = join(mkdtempSync(join(tmpdir(), 'gq-shot-')), 'site');
await build({ configFile: join(appRoot, 'vite.config.ts'), root: join(appRoot, 'web'), logLevel: 'error', build: { outDir: site, emptyOutDir: true } });
copyFileSync(resolve(model), join(site, 'model.gqtok'));
const server = await preview({ configFile: join(appRoot, 'vite.config.ts'), root: join(appRoot, 'web'), logLevel: 'error', build: { outDir: site }, preview: { port: 0, host: '127.0.0.1', strictPort: false } });
const browser = await chromium.launch({
  executablePath: process.env.GQ_CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
});
try {
  const page = await browser.newPage({ viewport: { width: 1100, height: 760 } });
  await page.goto(`${server.resolvedUrls!.local[0]!}?model=model.gqtok&backend=wasm`);
  await page.waitForFunction(() => document.body.dataset.state === 'done' || document.body.dataset.state === 'error', undefined, { timeout: 60_000 });
  await page.setInputFiles('#image-file', resolve(image));
  await page.waitForFunction(() => document.body.dataset.state === 'done' || document.body.dataset.state === 'error', undefined, { timeout: 60_000 });
  if ((await page.getAttribute('body', 'data-state')) === 'error') throw new Error(`the page reported: ${await page.textContent('#error')}`);
  writeFileSync(out, await page.screenshot({ fullPage: true }));
  console.log(`wrote ${out}`);
} finally {
  await browser.close();
  await server.close();
}
