#!/usr/bin/env node
// For --backend webgpu this points Vulkan at the lavapipe driver that scripts/install-lavapipe.sh
// unpacks, when one is there and none is configured: the dynamic loader reads LD_LIBRARY_PATH only
// when a process starts, so it is set for the child that runs the CLI.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { runSource } from '../../../scripts/run-source.mjs';

const vulkan = fileURLToPath(new URL('../.vulkan/', import.meta.url));
const env = { ...process.env };
if (env.VK_ICD_FILENAMES === undefined && existsSync(`${vulkan}icd.json`)) {
  env.VK_ICD_FILENAMES = `${vulkan}icd.json`;
  env.LD_LIBRARY_PATH = [`${vulkan}lib`, env.LD_LIBRARY_PATH].filter(Boolean).join(':');
}
runSource(fileURLToPath(new URL('../src/main.ts', import.meta.url)), env);
