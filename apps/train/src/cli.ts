import { createRequire } from 'node:module';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { BAND_HALF_WIDTH, isGqError } from '@gq/core';
import { describeBottleneck, evaluateAndExport, methods, rate, DEFAULT_BATCH, DEFAULT_STEPS, REFERENCE_TDC_FACTOR, resolveConfig, trainRun, TrainError } from '@gq/training';
import { backendNames, type BackendName } from '@gq/runtime';
import { nodeFiles } from '@gq/runtime/files';

/** This app's version, from its package.json. */
const { version } = createRequire(import.meta.url)('../package.json') as { version: string };

function number(value: string): number {
  const parsed = Number(value);
  if (value.trim() === '' || !Number.isFinite(parsed)) throw new InvalidArgumentError(`expected a number, got '${value}'`);
  return parsed;
}

function list(value: string): number[] | 'paper' {
  if (value === 'paper') return 'paper';
  const parts = value.split(',').map((part) => Number(part.trim()));
  if (parts.length === 0 || parts.some((p) => !Number.isFinite(p))) throw new InvalidArgumentError(`expected comma-separated integers or 'paper', got '${value}'`);
  return parts;
}

const program = new Command('gq-train')
  .version(version)
  .exitOverride()
  .description('Train a VAE tokenizer: Gaussian VAE + TDC converted with Gaussian Quant, or a baseline (VQ, FSQ, LFQ, BSQ, TokenBridge) on the same backbone')
  .option('--method <name>', methods.join(' | '), 'gq')
  .option('--arch <name>', 'unet | vit', 'unet')
  .option('--preset <name>', 'model preset: UNet tiny32 (default) | cpu32 | cpu64 | paper; ViT cpu32 (default) | cpu64 | paper')
  .option('--dataset <spec>', 'sample | fashion-mnist[:DIR] | cifar10:PATH | folder:PATH | photos[:DIR]', 'sample')
  .option('--bits <n>', 'bits per latent position; each method maps it to its parameters (README)', number, 8)
  .option('--dim <m>', 'gq/vq: dimensions per token m (default: all latent channels, G = 1)', number)
  .option('--z-channels <c>', 'latent channels C (default: the preset\'s; fixed by --bits for fsq/lfq/bsq)', number)
  .option('--fsq-levels <list>', 'fsq: levels, e.g. 8,6,5, or \'paper\' (default: 16-level channels)', list)
  .option('--tb-bits <B>', 'tokenbridge: bits per channel B (default: bits / C)', number)
  .option('--tb-scale <s>', 'tokenbridge: input scale s', number, 1)
  .option('--beta <b>', 'GQ prior weight β', number, 1)
  .option('--codebook <method>', 'GQ codebook: sobol | normal | torch-sobol (the reference implementation\'s table)', 'sobol')
  .option('--tdc-factor <γ>', `TDC multiplier update factor γ (the reference's ${REFERENCE_TDC_FACTOR})`, number, REFERENCE_TDC_FACTOR)
  .option('--tdc-band <α>', 'TDC band half-width α in bits', number, BAND_HALF_WIDTH)
  .option('--steps <n>', 'optimiser steps', number, DEFAULT_STEPS)
  .option('--batch <n>', 'global batch size', number, DEFAULT_BATCH)
  .option('--lr <x>', 'Adam learning rate', number, 1e-3)
  .option('--seed <n>', 'seed of the weights, data order and noise', number, 0)
  .option('--test-images <n>', 'held-out images for evaluation', number, 256)
  .option('--workers <n>', 'data-parallel worker threads (default 2; webgpu: 1, one process drives the GPU)', number)
  .option('--backend <name>', 'wasm | cpu | webgpu | tensorflow', 'wasm')
  .option('--out <dir>', 'output folder', 'runs/default')
  .option('--resume', 'continue from <out>/checkpoint.safetensors if present', false)
  .option('--checkpoint-every <n>', 'steps between checkpoints', number, 100)
  .action(async (options: Record<string, unknown>) => {
    const config = resolveConfig({
      method: options.method as string,
      arch: options.arch as string,
      ...(options.preset !== undefined ? { preset: options.preset as string } : {}),
      dataset: options.dataset as string,
      bits: options.bits as number,
      ...(options.dim !== undefined ? { dim: options.dim as number } : {}),
      ...(options.zChannels !== undefined ? { zChannels: options.zChannels as number } : {}),
      ...(options.fsqLevels !== undefined ? { fsqLevels: options.fsqLevels as number[] | 'paper' } : {}),
      ...(options.tbBits !== undefined ? { tbBits: options.tbBits as number } : {}),
      tbScale: options.tbScale as number,
      beta: options.beta as number,
      codebookMethod: options.codebook as string,
      tdcFactor: options.tdcFactor as number,
      tdcBand: options.tdcBand as number,
      steps: options.steps as number,
      batchSize: options.batch as number,
      learningRate: options.lr as number,
      seed: options.seed as number,
      testImages: options.testImages as number,
    });
    const workers = (options.workers as number | undefined) ?? (options.backend === 'webgpu' ? 1 : 2);
    if (!Number.isInteger(workers) || workers < 1) throw new TrainError('bad-option', `--workers must be a positive integer, got ${workers}`);
    // Every option is checked before anything is printed, started or created.
    if (!(backendNames as readonly string[]).includes(options.backend as string)) {
      throw new TrainError('bad-option', `--backend must be one of ${backendNames.join(', ')}, got '${String(options.backend)}'`);
    }
    const r = rate(config);
    process.stderr.write(
      `gq-train: ${config.method} (${describeBottleneck(config)}), ${config.preset} ${config.arch === 'unet' ? 'UNet' : 'ViT'}, ` +
        `${r.bitsPerPosition.toFixed(2)} bits/position, ${r.tokensPerImage} indices/image, ${r.bitsPerImage.toFixed(0)} bits/image (${r.bpp.toFixed(3)} bpp)\n`,
    );
    const outcome = await trainRun(config, {
      files: nodeFiles,
      outDir: options.out as string,
      workers,
      backend: options.backend as BackendName,
      resume: options.resume as boolean,
      checkpointEvery: options.checkpointEvery as number,
    });
    try {
      if (outcome.interrupted) {
        process.stderr.write(`interrupted at step ${outcome.step}: checkpoint saved in ${options.out as string}; rerun with --resume to continue\n`);
        process.exitCode = 130;
        return;
      }
      const finished = await evaluateAndExport(nodeFiles, config, outcome, options.out as string, options.backend as BackendName);
      process.stdout.write(finished.report);
    } finally {
      await outcome.trainer.dispose();
    }
  });

program.parseAsync(process.argv).catch((error: unknown) => {
  // Exit codes: 0 for --help/--version, 2 for a usage error (commander's parse errors, an invalid
  // option), 1 for a run that failed. Errors of our packages get one line, no stack trace.
  if (error instanceof CommanderError) process.exit(error.exitCode === 0 ? 0 : 2);
  if (isGqError(error)) {
    process.stderr.write(`\ngq-train: ${error.message}\n`);
    process.exit(/^bad-option/.test(error.code) ? 2 : 1);
  }
  throw error;
});
