import { join } from 'node:path';
import { useBackend } from '@gq/runtime';
import { rate, type TrainConfig } from './config.js';
import { evaluate, type Evaluation } from './evaluate.js';
import { exportArtifact, tokenizerFromTrainer, type ExportedArtifact } from './export.js';
import { writeFileAtomic } from './files.js';
import { imageGrid } from './grid.js';
import type { TrainOutcome } from './train.js';

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  const line = (r: string[]) => `| ${r.map((cell, c) => cell.padEnd(widths[c]!)).join(' | ')} |`;
  return [line(rows[0]!), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.slice(1).map(line)].join('\n');
}

/** Evaluate the trained model, write the grid and the summary, and print the results table. */
export async function evaluateAndExport(
  config: TrainConfig,
  outcome: TrainOutcome,
  outDir: string,
  backend: string,
): Promise<{ evaluation: Evaluation; artifact: ExportedArtifact }> {
  if (outcome.trainer.workerCount > 1) await useBackend(backend as 'wasm');
  const result = await evaluate(config, outcome.trainer, outcome.test);
  const { bpp, bitsPerImage } = rate(config);
  const gridPath = join(outDir, 'grid.png');
  writeFileAtomic(
    gridPath,
    imageGrid([result.preview.original, result.preview.gq, result.preview.mean], result.preview.count, config.imageSize, config.imageChannels),
  );
  const summary = {
    config,
    steps: outcome.step,
    seconds: outcome.seconds,
    stepsPerSecond: outcome.stepsPerSecond,
    workers: outcome.trainer.workerCount,
    backend: outcome.trainer.backend,
    rate: { bpp, bitsPerImage },
    evaluation: { ...result, preview: undefined },
  };
  writeFileAtomic(join(outDir, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
  const tokenizer = await tokenizerFromTrainer(config, outcome.trainer);
  let artifact: ExportedArtifact;
  try {
    artifact = await exportArtifact(
      tokenizer,
      outDir,
      { steps: outcome.step, seconds: outcome.seconds, method: config.method, dataset: config.dataset, seed: config.seed },
      {
        images: result.images,
        psnrGq: result.gq.psnr,
        psnrMean: result.mean.psnr,
        psnrSample: result.sample.psnr,
        ssimGq: result.gq.ssim,
        usage: result.usage.fraction,
        perplexity: result.usage.perplexity,
        bitsMean: result.bits.mean,
        inBand: result.inBand,
      },
    );
  } finally {
    tokenizer.dispose();
  }
  const f = (x: number, digits = 2) => x.toFixed(digits);
  process.stdout.write(
    `\n${outcome.step} steps in ${f(outcome.seconds, 1)} s (${f(outcome.stepsPerSecond)} steps/s on ${outcome.trainer.workerCount} × ${outcome.trainer.backend}); ` +
      `evaluated on ${result.images} held-out images\n\n` +
      table([
        ['reconstruction', 'PSNR (dB)', 'SSIM'],
        ['decode(μ)', f(result.mean.psnr), f(result.mean.ssim, 4)],
        ['decode(μ + σε)', f(result.sample.psnr), f(result.sample.ssim, 4)],
        [`decode(GQ), K = 2^${config.codebookBits}`, f(result.gq.psnr), f(result.gq.ssim, 4)],
      ]) +
      '\n\n' +
      table([
        ['tokenizer', 'value'],
        ['bits per image / bpp', `${bitsPerImage} / ${f(bpp, 3)}`],
        ['codebook usage', `${result.usage.used} of ${2 ** config.codebookBits} (${f(result.usage.fraction * 100, 1)} %)`],
        ['perplexity', f(result.usage.perplexity, 1)],
        ['bits/token mean [min, max]', `${f(result.bits.mean)} [${f(result.bits.min)}, ${f(result.bits.max)}]`],
        [`tokens within ${config.codebookBits} ± 0.5 bits`, `${f(result.inBand * 100, 1)} %`],
      ]) +
      `\n\ntokenizer: ${artifact.container} (and ${artifact.folder}/), id ${artifact.artifactId.slice(0, 16)}…\n` +
      `grid (originals / GQ / decode(μ)): ${gridPath}\nsummary: ${join(outDir, 'summary.json')}\n`,
  );
  return { evaluation: result, artifact };
}
