#!/usr/bin/env node
// Installs the workspace on a fresh clone (only Node 20 and npm needed): pnpm comes from the npm
// registry at the pinned version, then a frozen-lockfile install. Skipped when node_modules is
// already up to date with the lockfile.
import { execFileSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pnpmVersion = '12.4.2';
const marker = join(root, 'node_modules', '.modules.yaml');
const lockfile = join(root, 'pnpm-lock.yaml');
const upToDate =
  existsSync(marker) && existsSync(join(root, 'node_modules', '.bin', 'pnpm')) &&
  statSync(marker).mtimeMs >= statSync(lockfile).mtimeMs;

if (!upToDate) {
  console.log(`Installing dependencies with pnpm ${pnpmVersion} (first run only)…`);
  const npx = process.platform === 'win32' ? 'npx.cmd' : 'npx';
  execFileSync(npx, ['-y', `pnpm@${pnpmVersion}`, 'install', '--frozen-lockfile'], {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, npm_config_nodedir: process.env.npm_config_nodedir ?? '' },
  });
}
