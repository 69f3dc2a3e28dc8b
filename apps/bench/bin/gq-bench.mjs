#!/usr/bin/env node
// Runs the TypeScript sources directly: tsx's hooks plus the '@gq/source' export condition, so the
// workspace packages need no build step.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const cli = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
const child = spawn(
  process.execPath,
  ['--conditions=@gq/source', '--import', require.resolve('tsx'), cli, ...process.argv.slice(2)],
  { stdio: 'inherit' },
);
// Ctrl-C reaches the child too; training saves a checkpoint, and finished configurations are kept.
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => process.exit(code ?? (signal !== null ? 130 : 1)));
