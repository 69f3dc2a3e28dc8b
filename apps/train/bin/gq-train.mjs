#!/usr/bin/env node
import { fileURLToPath } from 'node:url';
import { runSource } from '../../../scripts/run-source.mjs';

runSource(fileURLToPath(new URL('../src/cli.ts', import.meta.url)));
