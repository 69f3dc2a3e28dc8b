#!/usr/bin/env node
// For --backend webgpu without a GPU driver configured, Vulkan is pointed at the lavapipe that
// apps/infer/scripts/install-lavapipe.sh unpacks (set for the child that runs the CLI).
import { fileURLToPath } from 'node:url';
import { withLavapipe } from '../../../scripts/lavapipe-env.mjs';
import { runSource } from '../../../scripts/run-source.mjs';

runSource(fileURLToPath(new URL('../src/cli.ts', import.meta.url)), withLavapipe());
