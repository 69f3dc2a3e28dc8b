import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { isGqError } from '@gq/core';
import type { BackendName } from '@gq/runtime';

import { defaultResultsFile, runBench } from './bench.js';
import { BenchError } from './errors.js';
import { suiteNames } from './report.js';
import { sizes, type Arch, type SizeOverrides } from './sizes.js';

/** This app's version, from its package.json. */
const { version } = createRequire(import.meta.url)('../package.json') as { version: string };

function list(value: string): string[] {
  return value.split(',').map((v) => v.trim()).filter((v) => v !== '');
}

function number(value: string): number {
  const parsed = Number(value);
  if (value.trim() === '' || !Number.isFinite(parsed)) throw new InvalidArgumentError(`expected a number, got '${value}'`);
  return parsed;
}

const program = new Command('gq-bench')
  .version(version)
  .exitOverride()
  .description(
    `Reproduce the paper's claims at small scale and measure speed. Suites: all, ${suiteNames.join(', ')}. ` +
      "'gq-bench report [suites...] --size S' trains nothing: it rebuilds the reports from the kept results alone, and RESULTS.md when no suite is named.",
  )
  .argument('[suites...]', "suites to run (default: all), or 'report' followed by suites")
  .option('--quick', 'the CI smoke size (same as --size quick)', false)
  .option('--size <name>', `${Object.keys(sizes).join(' | ')}; report mode takes several, comma-separated (one section each)`, 'full')
  .option('--out <dir>', 'reports and training runs with their checkpoints; <size> in it stands for the size\'s name (default runs/bench-<size>)')
  .option('--results-dir <dir>', 'where each configuration\'s result is kept as <dir>/<suite>/<key>.json, to be committed; <size> in it stands for the size\'s name (default results/<size>)')
  .option('--workers <n>', 'data-parallel worker threads for training', number, 2)
  .option('--backend <name>', 'training and evaluation backend', 'wasm')
  .option('--steps <n>', 'override the size\'s optimiser steps per configuration', number)
  .option('--seeds <n>', 'override the size\'s training seeds per quality cell', number)
  .option('--archs <list>', 'train only these of the size\'s rd backbones (comma-separated, e.g. unet); rd, beta and seeds run that part of the grid, and its kept results count for the whole size', list)
  .option('--bits <list>', 'train only these of the size\'s rd bits per position (comma-separated, e.g. 4), as --archs', (v: string) => list(v).map(number))
  .option('--batch <n>', 'override the size\'s batch', number)
  .option('--test-images <n>', 'override the size\'s held-out images', number)
  .option('--lr <x>', 'override the size\'s learning rate', number)
  .option('--dataset <spec>', 'override the dataset (sample | fashion-mnist[:DIR] | cifar10:PATH | folder:PATH | photos[:DIR])')
  .option('--results <file>', 'also write one combined markdown report (e.g. RESULTS.md) with its plots in docs/results/ beside it (default for a report of every suite: RESULTS.md)')
  .option('--quiet', 'no training progress lines', false)
  .action(async (names: string[], options: Record<string, unknown>) => {
    // A bench run takes minutes to hours: it starts only when told what to run.
    if (names.length === 0 && options.quick !== true && program.getOptionValueSource('size') !== 'cli') {
      program.outputHelp();
      if (process.argv.length > 2) process.stderr.write('\ngq-bench: name a suite (e.g. gq-bench all) or a --size\n');
      process.exitCode = process.argv.length > 2 ? 2 : 0;
      return;
    }
    const size = options.quick === true ? 'quick' : (options.size as string);
    const reportOnly = names[0] === 'report';
    const resultsFile = defaultResultsFile(reportOnly, reportOnly ? names.slice(1) : names, options.results as string | undefined);
    const overrides: SizeOverrides = {
      ...(options.steps !== undefined ? { steps: options.steps as number } : {}),
      ...(options.seeds !== undefined ? { seeds: options.seeds as number } : {}),
      ...(options.batch !== undefined ? { batchSize: options.batch as number } : {}),
      ...(options.testImages !== undefined ? { testImages: options.testImages as number } : {}),
      ...(options.lr !== undefined ? { learningRate: options.lr as number } : {}),
      ...(options.dataset !== undefined ? { dataset: options.dataset as string } : {}),
    };
    await runBench({
      suites: reportOnly ? names.slice(1) : names,
      size,
      reportOnly,
      // Results are kept per size (its name records any override), beside the code that measured them.
      // '<size>' stands for each size's name (report mode takes several sizes, comma-separated).
      resultsDir: (options.resultsDir as string | undefined) ?? join('results', '<size>'),
      overrides,
      outDir: (options.out as string | undefined) ?? 'runs/bench-<size>',
      workers: options.workers as number,
      backend: options.backend as BackendName,
      quiet: options.quiet as boolean,
      ...(resultsFile !== undefined ? { resultsFile } : {}),
      ...(options.archs !== undefined || options.bits !== undefined
        ? {
            part: {
              ...(options.archs !== undefined ? { archs: options.archs as Arch[] } : {}),
              ...(options.bits !== undefined ? { bits: options.bits as number[] } : {}),
            },
          }
        : {}),
      command: ['gq-bench', ...process.argv.slice(2)].join(' '),
    });
  });

program.parseAsync(process.argv).catch((error: unknown) => {
  // Exit codes: 0 for --help/--version, 2 for a usage error (commander's parse errors, an invalid
  // option), 1 for a run that failed. Errors of our packages get one line, no stack trace.
  if (error instanceof CommanderError) process.exit(error.exitCode === 0 ? 0 : 2);
  if (isGqError(error)) {
    process.stderr.write(`\ngq-bench: ${error.message}\n`);
    process.exit(/^bad-option/.test(error.code) ? 2 : 1);
  }
  throw error;
});
