import { Command, InvalidArgumentError } from 'commander';
import { isGqError } from '@gq/core';
import type { BackendName } from '@gq/runtime';

import { runBench } from './bench.js';
import { BenchError } from './errors.js';
import { suiteNames } from './report.js';

function number(value: string): number {
  const parsed = Number(value);
  if (value.trim() === '' || !Number.isFinite(parsed)) throw new InvalidArgumentError(`expected a number, got '${value}'`);
  return parsed;
}

const program = new Command('gq-bench')
  .description(`Reproduce the paper's claims at small scale and measure speed. Suites: all, ${suiteNames.join(', ')}`)
  .argument('[suites...]', 'suites to run (default: all)')
  .option('--quick', 'the CI smoke size (same as --size quick)', false)
  .option('--size <name>', 'quick | small | full', 'full')
  .option('--out <dir>', 'output folder (default runs/bench-<size>)')
  .option('--workers <n>', 'data-parallel worker threads for training', number, 2)
  .option('--backend <name>', 'training and evaluation backend', 'wasm')
  .option('--steps <n>', 'override the size\'s optimiser steps per configuration', number)
  .option('--batch <n>', 'override the size\'s batch', number)
  .option('--test-images <n>', 'override the size\'s held-out images', number)
  .option('--lr <x>', 'override the size\'s learning rate', number)
  .option('--dataset <spec>', 'override the dataset (sample | fashion-mnist[:DIR] | cifar10:PATH | folder:PATH)')
  .option('--results <file>', 'also write one combined markdown report (e.g. RESULTS.md) with its plots in docs/results/ beside it')
  .option('--quiet', 'no training progress lines', false)
  .action(async (names: string[], options: Record<string, unknown>) => {
    const size = options.quick === true ? 'quick' : (options.size as string);
    await runBench({
      suites: names,
      size,
      overrides: {
        ...(options.steps !== undefined ? { steps: options.steps as number } : {}),
        ...(options.batch !== undefined ? { batchSize: options.batch as number } : {}),
        ...(options.testImages !== undefined ? { testImages: options.testImages as number } : {}),
        ...(options.lr !== undefined ? { learningRate: options.lr as number } : {}),
        ...(options.dataset !== undefined ? { dataset: options.dataset as string } : {}),
      },
      outDir: (options.out as string | undefined) ?? `runs/bench-${size}`,
      workers: options.workers as number,
      backend: options.backend as BackendName,
      quiet: options.quiet as boolean,
      ...(options.results !== undefined ? { resultsFile: options.results as string } : {}),
      command: ['gq-bench', ...process.argv.slice(2)].join(' '),
    });
  });

program.parseAsync(process.argv).catch((error: unknown) => {
  // Errors of our packages are the user's to fix (an option, a file): one line, no stack trace.
  if (isGqError(error)) {
    process.stderr.write(`\ngq-bench: ${error.message}\n`);
    process.exit(2);
  }
  throw error;
});
