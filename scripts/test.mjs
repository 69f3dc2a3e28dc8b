#!/usr/bin/env node
// `npm test` (and so CI): install, lint, every unit test, type-check and build every package and
// app, then the release check (pack, publint, are-the-types-wrong, README quick starts installed
// from the tarballs). Every step runs even when an earlier one failed. The last line is the totals
// over all of them, `N passed, N failed`: tests and release checks count one each, and lint,
// typecheck and build one each.
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bin = (name) => join(root, 'node_modules', '.bin', name);

/** Runs a command with its output passed through; resolves to its exit code, its last totals line and seconds. */
function step(command, args) {
  const start = Date.now();
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let last = '';
    let totals = null;
    const scan = (chunk) => {
      last += chunk.toString();
      const lines = last.split('\n');
      last = lines.pop() ?? '';
      for (const line of lines) {
        const match = /^(\d+) passed, (\d+) failed/.exec(line.replace(/\x1b\[[0-9;]*m/g, '').trim());
        if (match) totals = { passed: Number(match[1]), failed: Number(match[2]) };
      }
    };
    child.stdout.on('data', (chunk) => {
      process.stdout.write(chunk);
      scan(chunk);
    });
    child.stderr.on('data', (chunk) => process.stderr.write(chunk));
    child.on('close', (code) => resolve({ code: code ?? 1, totals, seconds: (Date.now() - start) / 1000 }));
  });
}

const steps = [
  { name: 'setup', command: process.execPath, args: [join(root, 'scripts', 'setup.mjs')], counted: false },
  { name: 'lint', command: bin('eslint'), args: ['--no-warn-ignored', '.'] },
  { name: 'vitest', command: bin('vitest'), args: ['run', '--reporter=default', '--reporter=./scripts/totals-reporter.ts'], totals: true },
  { name: 'typecheck', command: bin('turbo'), args: ['run', 'typecheck', '--continue', '--output-logs=errors-only'] },
  { name: 'build', command: bin('turbo'), args: ['run', 'build', '--output-logs=errors-only'] },
  { name: 'release check', command: process.execPath, args: ['--import', 'tsx', join(root, 'tools', 'consumer', 'src', 'main.ts')], totals: true },
];

let passed = 0;
let failed = 0;
const timings = [];
for (const { name, command, args, counted = true, totals: hasTotals = false } of steps) {
  console.log(`\n=== ${name}`);
  const { code, totals, seconds } = await step(command, args);
  timings.push(`${name} ${seconds.toFixed(0)} s`);
  if (name === 'setup' && code !== 0) {
    console.log('setup failed; nothing else can run');
    console.log('0 passed, 1 failed');
    process.exit(1);
  }
  if (hasTotals && totals !== null) {
    passed += totals.passed;
    failed += totals.failed + (code !== 0 && totals.failed === 0 ? 1 : 0);
  } else if (counted) {
    if (code === 0) passed++;
    else failed++;
  }
  console.log(`=== ${name}: ${code === 0 ? 'ok' : `failed (exit ${code})`} in ${seconds.toFixed(0)} s`);
}
console.log(`\nsteps: ${timings.join(', ')}`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed > 0 ? 1 : 0);
