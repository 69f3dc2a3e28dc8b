import { isGqError } from '@gq/core';
import type { BackendName } from '@gq/runtime';
import type { FileStore } from '@gq/runtime/files';
import { DataParallelTrainer, type Shard } from '@gq/runtime/parallel';
import { lockOutputFolder, truncateMetrics, watchLauncher } from './files.js';
import { joinPath } from './paths.js';
import { loadCheckpoint, saveCheckpoint } from './checkpoint.js';
import type { TrainConfig } from './config.js';
import { loadDataset, seededPermutation, splitImages, toModelInput, type ImageSet } from './datasets/index.js';
import { TrainError } from './errors.js';
import { Progress } from '@gq/runtime/progress';
import { combineStepStats, type CombinedStats, type TrainingReplicaTypes } from './replica.js';

export interface RunOptions {
  /** Where the run reads its dataset and writes its folder (`nodeFiles` from `@gq/runtime/files` in Node). */
  readonly files: FileStore;
  /** Output folder: checkpoint.safetensors, metrics.jsonl, the artifact and grids. */
  readonly outDir: string;
  readonly workers: number;
  readonly backend: BackendName;
  /** Continue from outDir/checkpoint.safetensors when it exists. */
  readonly resume: boolean;
  readonly checkpointEvery: number;
  /** Stop after this many steps in this invocation (tests use it to simulate an interruption). */
  readonly stopAfter?: number;
  readonly quiet?: boolean;
}

export interface TrainOutcome {
  readonly trainer: DataParallelTrainer<TrainingReplicaTypes>;
  readonly train: ImageSet;
  readonly test: ImageSet;
  readonly step: number;
  readonly seconds: number;
  readonly stepsPerSecond: number;
  readonly losses: readonly number[];
  readonly last: CombinedStats | undefined;
  readonly interrupted: boolean;
}

/** The image indices of the global batch at `step`: epoch-wise seeded permutations, last partial batch dropped. */
export function batchIndices(step: number, trainCount: number, batchSize: number, seed: number): Uint32Array {
  const perEpoch = Math.floor(trainCount / batchSize);
  if (perEpoch < 1) throw new TrainError('dataset-small', `the training split has ${trainCount} images, fewer than one batch of ${batchSize}`);
  const epoch = Math.floor(step / perEpoch);
  const order = seededPermutation(trainCount, (seed + Math.imul(epoch + 1, 0x9e3779b1)) >>> 0);
  const start = (step % perEpoch) * batchSize;
  return order.subarray(start, start + batchSize);
}

/** The global batch of `step` split into one shard per worker (the last takes the remainder). */
export function batchShards(config: TrainConfig, train: ImageSet, step: number, workers: number): Shard[] {
  const indices = batchIndices(step, train.count, config.batchSize, config.seed);
  const per = Math.floor(indices.length / workers);
  return Array.from({ length: workers }, (_, w) => {
    const part = indices.subarray(w * per, w === workers - 1 ? indices.length : (w + 1) * per);
    const images = toModelInput(train, part, config.imageSize, config.imageChannels);
    return { images: { shape: [part.length, config.imageSize, config.imageSize, config.imageChannels], data: images } };
  });
}

export const checkpointName = 'checkpoint.safetensors';

/** The module every data-parallel worker imports to build its replica (`createReplica`). */
export const replicaModuleUrl = new URL(import.meta.url.endsWith('.ts') ? './replica.ts' : './replica.js', import.meta.url);

/** Train (or resume) a run; returns the live trainer for evaluation and export. */
export async function trainRun(config: TrainConfig, options: RunOptions): Promise<TrainOutcome> {
  const { files } = options;
  files.makeFolder(options.outDir);
  // One trainer per folder: a second one (a repeated --resume) would interleave the metrics and
  // overwrite the checkpoint. The lock is released when this process exits.
  lockOutputFolder(files, options.outDir);
  files.removeStaleTemporaries(options.outDir);
  const checkpointPath = joinPath(options.outDir, checkpointName);
  const metricsPath = joinPath(options.outDir, 'metrics.jsonl');
  const dataset = await loadDataset(files, config.dataset, config.imageSize);
  const { train, test } = splitImages(dataset, config.testImages, config.seed);
  if (config.batchSize < options.workers) {
    throw new TrainError('bad-option', `--batch (${config.batchSize}) must be at least the number of workers (${options.workers})`);
  }
  if (options.backend === 'webgpu' && options.workers !== 1) {
    // Each worker thread would open its own device and copy every gradient through the CPU.
    throw new TrainError('bad-option', `--workers must be 1 with --backend webgpu (one process drives the GPU), got ${options.workers}`);
  }
  const resumeFrom = options.resume && files.exists(checkpointPath) ? loadCheckpoint(files, checkpointPath) : undefined;
  // Everything but the step budget must match: `--steps` may grow to continue a finished run.
  const withoutSteps = (c: TrainConfig): string => {
    // Key order does not matter (a checkpoint from before a field existed gets it appended with its default).
    const entries = Object.entries({ ...c, steps: 0 }).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return JSON.stringify(Object.fromEntries(entries));
  };
  if (resumeFrom !== undefined && withoutSteps(resumeFrom.config) !== withoutSteps(config)) {
    const changed = Object.keys(config).filter(
      (key) => key !== 'steps' && JSON.stringify(config[key as keyof TrainConfig]) !== JSON.stringify(resumeFrom.config[key as keyof TrainConfig]),
    );
    throw new TrainError(
      'resume-mismatch',
      `cannot resume ${checkpointPath}: it was trained with a different configuration (${changed.join(', ')} differ); only --steps may change`,
    );
  }
  // A run only continues forward: its checkpoint past the step budget is a model the configuration does not describe.
  if (resumeFrom !== undefined && resumeFrom.step > config.steps) {
    throw new TrainError(
      'resume-ahead',
      `cannot resume ${checkpointPath} for ${config.steps} steps: it is at step ${resumeFrom.step} already; pass --steps ${resumeFrom.step} or more, or another --out`,
    );
  }
  const trainer = await DataParallelTrainer.create<TrainingReplicaTypes>({
    replicaModule: replicaModuleUrl,
    workers: options.workers,
    backend: options.backend,
    replicaOptions: { config },
    combine: combineStepStats,
  });
  let step = 0;
  let secondsBefore = 0;
  if (resumeFrom !== undefined) {
    await trainer.setState(resumeFrom.state);
    step = resumeFrom.step;
    secondsBefore = resumeFrom.seconds;
  }
  // Steps after the checkpoint are trained again; their old lines must not stay in the log.
  truncateMetrics(files, metricsPath, step);
  const log = options.quiet === true ? () => undefined : (line: string) => process.stderr.write(`${line}\n`);
  log(
    `${resumeFrom !== undefined ? `resuming at step ${step}` : 'training'}: ${config.method} on ${dataset.name} ` +
      `(${train.count} train / ${test.count} test images), ${trainer.parameterCount.toLocaleString('en')} parameters, ` +
      `${trainer.workerCount} × ${trainer.backend}`,
  );

  let interrupted = false;
  const onSignal = (): void => {
    interrupted = true;
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // Launched through the gq-train wrapper: stop (saving a checkpoint) if the wrapper dies.
  const launcherPid = Number(process.env.GQ_LAUNCHER_PID);
  const stopWatching = Number.isSafeInteger(launcherPid) && launcherPid > 0 ? watchLauncher(launcherPid, onSignal) : () => undefined;
  const progress = new Progress({ total: config.steps, start: step, every: 25, enabled: options.quiet !== true });
  const started = performance.now();
  const losses: number[] = [];
  let last: CombinedStats | undefined;
  const save = (): void =>
    saveCheckpoint(files, checkpointPath, {
      config,
      step,
      seconds: secondsBefore + (performance.now() - started) / 1000,
      state: pendingState!,
    });
  let pendingState: Awaited<ReturnType<DataParallelTrainer['getState']>> | undefined;
  const stopAt = Math.min(config.steps, options.stopAfter !== undefined ? step + options.stopAfter : config.steps);
  try {
    while (step < stopAt && !interrupted) {
      let result;
      try {
        result = await trainer.step(batchShards(config, train, step, trainer.workerCount));
      } catch (error) {
        // Any of our errors about a non-finite value (the loss, a gradient, a token's rate) means the step diverged.
        if (isGqError(error) && error.code.startsWith('non-finite')) {
          throw new TrainError(
            'non-finite-loss',
            `training became non-finite at step ${step + 1} (${error.message}); stopped without applying it. ` +
              `The last good checkpoint is ${files.exists(checkpointPath) ? checkpointPath : 'not written yet'}`,
          );
        }
        throw error;
      }
      step++;
      last = result.combined;
      losses.push(result.loss);
      const tdc = last.tdc;
      const quantizer = last.quantizer;
      files.append(
        metricsPath,
        `${JSON.stringify({
          step,
          loss: result.loss,
          recon: last.recon,
          logScale: last.logScale,
          ...(tdc !== undefined
            ? {
                bits: { mean: tdc.mean, min: tdc.min, max: tdc.max, inBand: tdc.inBand, count: tdc.count },
                ...(tdc.lambda !== undefined ? { lambda: { global: tdc.lambda, min: tdc.lambdaMin, max: tdc.lambdaMax } } : {}),
              }
            : {}),
          ...(quantizer !== undefined ? { quantizer: { ...quantizer, counts: undefined } } : {}),
        })}\n`,
      );
      progress.update(step, {
        loss: result.loss.toFixed(4),
        L1: last.recon.toFixed(4),
        ...(tdc !== undefined
          ? {
              bits: `${tdc.mean.toFixed(2)} [${tdc.min.toFixed(1)}, ${tdc.max.toFixed(1)}]`,
              band: `${(((tdc.inBand ?? 0) / tdc.count) * 100).toFixed(0)}%`,
              ...(tdc.lambda !== undefined ? { 'λ': `${tdc.lambda.toPrecision(3)} [${tdc.lambdaMin!.toPrecision(2)}, ${tdc.lambdaMax!.toPrecision(3)}]` } : {}),
            }
          : {}),
        ...(quantizer !== undefined ? { aux: quantizer.auxLoss.toPrecision(3) } : {}),
        ...(quantizer?.usedCodes !== undefined ? { codes: `${quantizer.usedCodes} ppl ${quantizer.perplexity!.toFixed(1)}` } : {}),
      });
      if (options.checkpointEvery > 0 && step % options.checkpointEvery === 0 && step < stopAt) {
        pendingState = await trainer.getState();
        save();
      }
    }
    progress.finish();
    // A finished run that was only loaded keeps its checkpoint as it is.
    if (losses.length > 0 || resumeFrom === undefined) {
      pendingState = await trainer.getState();
      save();
    }
  } catch (error) {
    progress.finish();
    await trainer.dispose();
    throw error;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    stopWatching();
  }
  const seconds = (performance.now() - started) / 1000;
  return {
    trainer,
    train,
    test,
    step,
    seconds: secondsBefore + seconds,
    stepsPerSecond: progress.rate(step),
    losses,
    last,
    interrupted,
  };
}
