import { RuntimeError } from '@gq/runtime';
import { withTransfer, type CreateWorker } from '@gq/runtime/parallel';

/** The requests of the test pool. */
export interface ArithCalls {
  sum: { args: Float64Array; result: number };
  scale: { args: { data: Float32Array; factor: number }; result: Float32Array };
  whoami: { args: undefined; result: { workerIndex: number; workerCount: number; tag: string } };
  fail: { args: { gq: boolean }; result: never };
}

/** Options every worker receives; `failAt` makes that worker's start-up throw. */
export interface ArithOptions {
  readonly tag: string;
  readonly failAt?: number;
}

export const createWorker: CreateWorker<ArithCalls, ArithOptions> = ({ workerIndex, workerCount, options }) => {
  if (options.failAt === workerIndex) throw new Error(`worker ${workerIndex} refuses to start`);
  return {
    handlers: {
      sum: (values) => values.reduce((a, b) => a + b, 0),
      scale: ({ data, factor }) => {
        const out = data.map((v) => v * factor);
        return withTransfer(out, [out.buffer as ArrayBuffer]);
      },
      whoami: () => ({ workerIndex, workerCount, tag: options.tag }),
      fail: ({ gq }) => {
        if (gq) throw new RuntimeError('test-failure', 'fail: asked to fail with a GQ error');
        throw new TypeError('fail: asked to fail with a plain error');
      },
    },
  };
};
