import { createRequire } from 'node:module';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { isGqError } from '@gq/core';
import { errorMessage } from './core/errors.js';
import { backendChoices } from './node/backend.js';
import { decodeCommand, encodeCommand, infoCommand, roundTripCommand } from './node/commands.js';
import { defaultLimits, type Limits } from './node/files.js';
import { fits, type Fit } from './node/images.js';
import type { Io } from './node/io.js';

/** This app's version, from its package.json. */
const { version } = createRequire(import.meta.url)('../package.json') as { version: string };

function positiveInteger(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError(`must be a positive integer, got '${value}'`);
  return n;
}

interface RawOptions {
  model: string;
  output?: string;
  backend: string;
  batchSize: number;
  fit: Fit;
  quiet?: boolean;
  json?: boolean;
  saveTokens?: string;
  force?: boolean;
  maxInputBytes: number;
  maxInputPixels: number;
  maxPixels?: number;
}

function limitsOf(raw: Pick<RawOptions, 'maxInputBytes' | 'maxInputPixels' | 'maxPixels'>): Limits {
  return { inputBytes: raw.maxInputBytes, inputPixels: raw.maxInputPixels, ...(raw.maxPixels === undefined ? {} : { pixels: raw.maxPixels }) };
}

function common(raw: RawOptions): { backend: string; quiet: boolean; json: boolean; model: string; batchSize: number; force: boolean; limits: Limits } {
  return { backend: raw.backend, quiet: raw.quiet === true, json: raw.json === true, model: raw.model, batchSize: raw.batchSize, force: raw.force === true, limits: limitsOf(raw) };
}

/** The flags of the input budgets (`Limits`), shared by every command that reads files. */
function withLimits(command: Command): Command {
  return command
    .option('--max-input-bytes <n>', 'refuse input files larger than this many bytes', positiveInteger, defaultLimits.inputBytes)
    .option('--max-input-pixels <n>', 'refuse image files with more pixels than this before resizing', positiveInteger, defaultLimits.inputPixels);
}

function build(io: Io, failures: string[]): Command {
  const program = new Command('gq')
    .description('Tokenize images with a GQ tokenizer (Gaussian Quant) on any TensorFlow.js backend')
    .version(version)
    .exitOverride()
    .configureOutput({ writeOut: io.out, writeErr: io.err, outputError: (text) => failures.push(text.trim()) })
    .showHelpAfterError(false);

  const withCommon = (command: Command, batch: boolean): Command => {
    command
      .addOption(new Option('--backend <name>', 'tfjs backend').choices(backendChoices).default('auto'))
      .option('-q, --quiet', 'print nothing but errors and results')
      .option('--json', 'print results as JSON');
    if (batch) {
      command
        .requiredOption('-m, --model <artifact>', 'tokenizer artifact: a .gqtok file or a directory with manifest.json + weights.safetensors')
        .option('-b, --batch-size <n>', 'images per tensor batch', positiveInteger, 8)
        .option('-f, --force', 'overwrite outputs that exist already')
        .option('--max-pixels <n>', "refuse to encode or decode images with more pixels than this (default: 4 × the model's image area, at least 512²)", positiveInteger);
      withLimits(command);
    }
    return command;
  };
  const fitOption = (): Option =>
    new Option('--fit <mode>', 'how images are brought to the model size: cover (scale + centre crop), contain (pad), fill (stretch), none (keep size)').choices(fits).default('cover');

  withCommon(
    program
      .command('encode')
      .description('images → token file(s): -o x.gqt writes one file for the whole batch, -o <dir> (or nothing) one <name>.gqt per image')
      .argument('<images...>', 'PNG, JPEG, WebP, … files')
      .option('-o, --output <file.gqt|dir>', 'one .gqt for all images, or a directory for one .gqt per image (default: beside each image)')
      .addOption(fitOption()),
    true,
  ).action(async (images: string[], raw: RawOptions) => {
    await encodeCommand(images, { ...common(raw), fit: raw.fit, ...(raw.output === undefined ? {} : { output: raw.output }) }, io);
  });

  withCommon(
    program
      .command('decode')
      .description('token file → PNG: -o x.png for a one-image file, -o <dir> for <name>-<i>.png per image (default: beside the .gqt)')
      .argument('<tokens>', '.gqt token file')
      .option('-o, --output <dir|png>', 'output PNG (one image) or directory'),
    true,
  ).action(async (tokens: string, raw: RawOptions) => {
    await decodeCommand(tokens, { ...common(raw), ...(raw.output === undefined ? {} : { output: raw.output }) }, io);
  });

  withCommon(
    program
      .command('roundtrip')
      .description('encode and decode images; print PSNR, SSIM, bits per pixel and timing')
      .argument('<images...>', 'PNG, JPEG, WebP, … files')
      .option('-o, --output <dir>', 'also save the reconstructions as PNG')
      .option('--save-tokens <file.gqt>', 'also save the tokens of all images as one .gqt')
      .addOption(fitOption()),
    true,
  ).action(async (images: string[], raw: RawOptions) => {
    await roundTripCommand(
      images,
      { ...common(raw), fit: raw.fit, ...(raw.output === undefined ? {} : { output: raw.output }), ...(raw.saveTokens === undefined ? {} : { saveTokens: raw.saveTokens }) },
      io,
    );
  });

  withLimits(
    program
      .command('info')
      .description('summarise a tokenizer artifact (.gqtok or directory) or a .gqt token file')
      .argument('<file>', 'artifact or token file')
      .option('--json', 'print as JSON'),
  ).action(async (file: string, raw: { json?: boolean } & Pick<RawOptions, 'maxInputBytes' | 'maxInputPixels'>) => {
    await infoCommand(file, { json: raw.json === true, limits: limitsOf(raw) }, io);
  });

  return program;
}

/**
 * Run the `gq` command line. Returns the exit code (0 ok, 1 failed, 2 usage error) instead of
 * exiting, so tests can run it in-process.
 */
export async function run(argv: readonly string[], io: Io): Promise<number> {
  const failures: string[] = [];
  const program = build(io, failures);
  if (argv.length === 0) {
    program.outputHelp(); // no arguments: the help, and success
    return 0;
  }
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.exitCode === 0) return 0;
      io.err(`gq: ${failures.join(' ') || error.message}\n`);
      return 2;
    }
    // Our errors carry a message written for the user; anything else is a bug, shown with its stack.
    if (isGqError(error)) io.err(`gq: error: ${error.message}\n`);
    else io.err(`gq: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : errorMessage(error)}\n`);
    return 1;
  }
}
