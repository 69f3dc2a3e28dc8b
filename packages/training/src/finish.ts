import { useBackend, type BackendName } from '@gq/runtime';
import type { FileStore } from '@gq/runtime/files';
import { describeBottleneck, type TrainConfig } from './config.js';
import { evaluate, type Evaluation } from './evaluate.js';
import { exportArtifact, type ExportedArtifact } from './export.js';
import { imageGrid } from './grid.js';
import { methodSpec } from './methods.js';
import { TrainedModel } from './model.js';
import { joinPath } from './paths.js';
import type { TrainOutcome } from './train.js';

/** What `evaluateAndExport` produced. */
export interface FinishedRun {
  readonly evaluation: Evaluation;
  /** The exported tokenizer artifact (GQ methods), otherwise `undefined`. */
  readonly artifact: ExportedArtifact | undefined;
  /** The results as text (timing, reconstruction table, tokenizer table, where the files are). */
  readonly report: string;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  const line = (r: string[]) => `| ${r.map((cell, c) => cell.padEnd(widths[c]!)).join(' | ')} |`;
  return [line(rows[0]!), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.slice(1).map(line)].join('\n');
}

/**
 * Evaluate the trained model in this thread (GQ methods through the `Tokenizer` that is exported),
 * write the grid and the summary, and (methods whose registry record exports one) the tokenizer
 * artifact. Returns the results and their text report.
 * @param backend the backend to evaluate on when training ran in worker threads
 */
export async function evaluateAndExport(
  files: FileStore,
  config: TrainConfig,
  outcome: TrainOutcome,
  outDir: string,
  backend: BackendName,
): Promise<FinishedRun> {
  if (outcome.trainer.workerCount > 1) await useBackend(backend);
  const model = await TrainedModel.fromTrainer(config, outcome.trainer);
  try {
    return await finish(files, config, outcome, outDir, model);
  } finally {
    model.dispose();
  }
}

async function finish(files: FileStore, config: TrainConfig, outcome: TrainOutcome, outDir: string, model: TrainedModel): Promise<FinishedRun> {
  const result = await evaluate(model, outcome.test);
  const { bpp, bitsPerImage, bitsPerPosition } = result.rate;
  const gridPath = joinPath(outDir, 'grid.png');
  const gridRows = [result.preview.original, result.preview.quantized, ...(result.preview.mean !== undefined ? [result.preview.mean] : [])];
  files.writeAtomic(gridPath, imageGrid(gridRows, result.preview.count, config.imageSize, config.imageChannels));
  const exportsArtifact = methodSpec(config.method).exportsArtifact;
  const summary = {
    config,
    steps: outcome.step,
    seconds: outcome.seconds,
    stepsPerSecond: outcome.stepsPerSecond,
    workers: outcome.trainer.workerCount,
    backend: outcome.trainer.backend,
    bottleneck: describeBottleneck(config),
    rate: result.rate,
    evaluation: { ...result, preview: undefined },
    artifact: exportsArtifact ? 'tokenizer.gqtok' : null,
  };
  files.writeAtomic(joinPath(outDir, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
  let artifact: ExportedArtifact | undefined;
  const tokenizer = model.tokenizer;
  if (tokenizer !== undefined) {
    artifact = await exportArtifact(
      files,
      tokenizer,
      outDir,
      { steps: outcome.step, seconds: outcome.seconds, method: config.method, dataset: config.dataset, seed: config.seed },
      {
        images: result.images,
        psnrGq: result.quantized.psnr,
        psnrMean: result.mean!.psnr,
        psnrSample: result.sample!.psnr,
        ssimGq: result.quantized.ssim,
        usage: result.usage.fraction,
        perplexity: result.usage.perplexity,
        bitsMean: result.bits!.mean,
        inBand: result.inBand!,
      },
    );
  }
  const f = (x: number, digits = 2) => x.toFixed(digits);
  const reconstructions = [
    ['reconstruction', 'PSNR (dB)', 'SSIM'],
    ...(result.mean !== undefined ? [['decode(μ)', f(result.mean.psnr), f(result.mean.ssim, 4)]] : []),
    ...(result.sample !== undefined ? [['decode(μ + σε)', f(result.sample.psnr), f(result.sample.ssim, 4)]] : []),
    [result.quantizedLabel, f(result.quantized.psnr), f(result.quantized.ssim, 4)],
  ];
  const usage = result.usage;
  const tokenizerRows = [
    ['tokenizer', 'value'],
    ['method', `${config.method}: ${describeBottleneck(config)}`],
    ['bits per position / image / bpp', `${f(bitsPerPosition)} / ${f(bitsPerImage, 0)} / ${f(bpp, 3)}`],
    ['index usage', `${usage.used} of ${usage.codebookSize} (${f(usage.fraction * 100, 1)} %) over ${usage.tokens} indices`],
    ['perplexity', f(usage.perplexity, 1)],
    ...(result.bits !== undefined
      ? [
          [`KL bits/token (m = ${config.dim}) mean [min, max]`, `${f(result.bits.mean)} [${f(result.bits.min)}, ${f(result.bits.max)}]`],
          [`tokens within ${config.codebookBits} ± ${config.tdcBand} bits`, `${f(result.inBand! * 100, 1)} %`],
        ]
      : []),
  ];
  const where =
    artifact !== undefined
      ? `tokenizer: ${artifact.container} (and ${artifact.folder}/), id ${artifact.artifactId.slice(0, 16)}…\n`
      : `no tokenizer artifact: the @gq/tokenizer format holds a GQ codebook, and ${config.method} is not a GQ method\n`;
  const gridLabel = result.preview.mean !== undefined ? `originals / ${result.quantizedLabel} / decode(μ)` : `originals / ${result.quantizedLabel}`;
  const report =
    `\n${outcome.step} steps in ${f(outcome.seconds, 1)} s (${f(outcome.stepsPerSecond)} steps/s on ${outcome.trainer.workerCount} × ${outcome.trainer.backend}); ` +
      `evaluated on ${result.images} held-out images\n\n` +
      table(reconstructions) +
      '\n\n' +
      table(tokenizerRows) +
      `\n\n${where}grid (${gridLabel}): ${gridPath}\nsummary: ${joinPath(outDir, 'summary.json')}\n`;
  return { evaluation: result, artifact, report };
}
