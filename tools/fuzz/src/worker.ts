/*
 * Child process of the fuzz runner: builds the seeds, then runs the cases it is sent, reporting
 * the start and outcome of each, and exits when its peak memory passes the cap.
 */
import { caseSeed, CaseRandom } from './mutate.js';
import { makeSeeds, runCase, type Format } from './formats.js';

/** A range of cases of one format. */
export interface WorkerJob {
  readonly format: Format;
  readonly seed: number;
  readonly from: number;
  readonly to: number;
  readonly memoryBytes: number;
}

/** Messages from a worker to the runner. */
export type WorkerMessage =
  | { readonly type: 'ready' }
  | { readonly type: 'start'; readonly index: number }
  | { readonly type: 'done'; readonly index: number; readonly kind: 'ok' | 'typed' | 'untyped'; readonly detail: string; readonly peakBytes: number; readonly ms: number };

const send = (message: WorkerMessage): void => {
  process.send!(message);
};

const seeds = await makeSeeds();
send({ type: 'ready' });
process.on('message', (job: WorkerJob) => {
  void (async () => {
    for (let index = job.from; index < job.to; index++) {
      send({ type: 'start', index });
      const started = performance.now();
      const outcome = await runCase(job.format, seeds, new CaseRandom(caseSeed(job.seed, job.format, index)));
      const peakBytes = process.resourceUsage().maxRSS * 1024;
      send({ type: 'done', index, kind: outcome.kind, detail: outcome.kind === 'typed' ? outcome.code : outcome.kind === 'untyped' ? outcome.message : '', peakBytes, ms: performance.now() - started });
      // The peak is a high-water mark: once past the cap, this process is retired.
      if (peakBytes > job.memoryBytes) process.exit(3);
    }
    process.exit(0);
  })();
});
