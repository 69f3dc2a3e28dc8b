#!/usr/bin/env node
// Runs the TypeScript sources directly (tsx's loader plus the '@gq/source' export condition), so the
// workspace packages need no build step. For --backend webgpu it points Vulkan at the lavapipe driver
// that scripts/install-lavapipe.sh unpacks, when one is there and none is configured: the dynamic
// loader reads LD_LIBRARY_PATH only when a process starts, so it has to be set for the child.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const entry = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const vulkan = fileURLToPath(new URL('../.vulkan/', import.meta.url));
const env = { ...process.env };
if (env.VK_ICD_FILENAMES === undefined && existsSync(`${vulkan}icd.json`)) {
  env.VK_ICD_FILENAMES = `${vulkan}icd.json`;
  env.LD_LIBRARY_PATH = [`${vulkan}lib`, env.LD_LIBRARY_PATH].filter(Boolean).join(':');
}
const child = spawn(
  process.execPath,
  ['--conditions=@gq/source', '--import', require.resolve('tsx'), entry, ...process.argv.slice(2)],
  { stdio: 'inherit', env },
);
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => process.exit(code ?? (signal !== null ? 130 : 1)));
