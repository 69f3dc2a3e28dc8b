import { Command, InvalidArgumentError } from 'commander';
import { RuntimeError } from '@gq/runtime';
import { resolveConfig, rate } from './config.js';
import { TrainError } from './errors.js';
import { trainRun } from './train.js';
import { evaluateAndExport } from './finish.js';

function number(value: string): number {
  const parsed = Number(value);
  if (value.trim() === '' || !Number.isFinite(parsed)) throw new InvalidArgumentError(`expected a number, got '${value}'`);
  return parsed;
}

const program = new Command('gq-train')
  .description('Train a Gaussian VAE with the Target Divergence Constraint and convert it to a VQ tokenizer with Gaussian Quant')
  .option('--method <name>', 'gq (TDC) | gq-vanilla (fixed-weight KL)', 'gq')
  .option('--preset <name>', 'UNet preset: cpu32 | cpu64 | paper', 'cpu32')
  .option('--dataset <spec>', 'sample | fashion-mnist[:DIR] | cifar10:PATH | folder:PATH', 'sample')
  .option('--bits <n>', 'bits per token, log2 K (the TDC target)', number, 8)
  .option('--dim <m>', 'dimensions per token m (default: all latent channels)', number)
  .option('--z-channels <c>', 'latent channels C (default: the preset\'s)', number)
  .option('--beta <b>', 'GQ prior weight β', number, 1)
  .option('--codebook <method>', 'sobol | normal', 'sobol')
  .option('--steps <n>', 'optimiser steps', number, 300)
  .option('--batch <n>', 'global batch size', number, 32)
  .option('--lr <x>', 'Adam learning rate', number, 1e-3)
  .option('--seed <n>', 'seed of the weights, data order and noise', number, 0)
  .option('--test-images <n>', 'held-out images for evaluation', number, 256)
  .option('--workers <n>', 'data-parallel worker threads', number, 2)
  .option('--backend <name>', 'wasm | cpu | webgpu | tensorflow', 'wasm')
  .option('--out <dir>', 'output folder', 'runs/default')
  .option('--resume', 'continue from <out>/checkpoint.safetensors if present', false)
  .option('--checkpoint-every <n>', 'steps between checkpoints', number, 100)
  .action(async (options: Record<string, unknown>) => {
    const config = resolveConfig({
      method: options.method as string,
      preset: options.preset as string,
      dataset: options.dataset as string,
      codebookBits: options.bits as number,
      ...(options.dim !== undefined ? { dim: options.dim as number } : {}),
      ...(options.zChannels !== undefined ? { zChannels: options.zChannels as number } : {}),
      beta: options.beta as number,
      codebookMethod: options.codebook as string,
      steps: options.steps as number,
      batchSize: options.batch as number,
      learningRate: options.lr as number,
      seed: options.seed as number,
      testImages: options.testImages as number,
    });
    const workers = options.workers as number;
    if (!Number.isInteger(workers) || workers < 1) throw new TrainError('bad-option', `--workers must be a positive integer, got ${workers}`);
    const r = rate(config);
    process.stderr.write(
      `gq-train: ${config.method}, ${config.preset} UNet, K = 2^${config.codebookBits}, m = ${config.dim}, ` +
        `${r.tokensPerImage} tokens/image, ${r.bitsPerImage} bits/image (${r.bpp.toFixed(3)} bpp)\n`,
    );
    const outcome = await trainRun(config, {
      outDir: options.out as string,
      workers,
      backend: options.backend as 'wasm',
      resume: options.resume as boolean,
      checkpointEvery: options.checkpointEvery as number,
    });
    try {
      if (outcome.interrupted) {
        process.stderr.write(`interrupted at step ${outcome.step}: checkpoint saved in ${options.out as string}; rerun with --resume to continue\n`);
        process.exitCode = 130;
        return;
      }
      await evaluateAndExport(config, outcome, options.out as string, options.backend as string);
    } finally {
      await outcome.trainer.dispose();
    }
  });

program.parseAsync(process.argv).catch((error: unknown) => {
  if (error instanceof TrainError || error instanceof RuntimeError) {
    process.stderr.write(`\ngq-train: ${error.message}\n`);
    process.exit(2);
  }
  if (error instanceof Error && /Error$/.test(error.name) && 'code' in error) {
    process.stderr.write(`\ngq-train: ${error.message}\n`);
    process.exit(2);
  }
  throw error;
});
