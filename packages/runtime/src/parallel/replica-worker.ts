import { useBackend, type BackendName } from '../backend.js';
import { ensureGradients } from '../gradients.js';
import { RuntimeError } from '../errors.js';
import { ReplicaHost } from './host.js';
import type { CreateWorker } from './pool.js';
import type { CreateReplica, ReplicaState, Shard } from './protocol.js';
import { prepareTrainingBackend } from './prepare.js';
import { importWorkerModule } from './source.js';
import { withTransfer } from './transfer.js';

/** What `DataParallelTrainer` sends each replica worker as pool options. */
export interface ReplicaWorkerOptions {
  readonly replicaModule: string;
  readonly backend: BackendName;
  readonly replicaOptions: unknown;
}

/** The requests a replica worker answers (the trainer's side of the protocol). */
export interface ReplicaWorkerCalls {
  describe: { args: undefined; result: { sizes: readonly number[]; backend: string } };
  gradients: { args: Shard; result: { loss: number; grads: Float32Array; stats: unknown; computeMs: number; packMs: number } };
  /** Result: milliseconds the worker spent applying. */
  apply: { args: { grads: Float32Array; combined: unknown }; result: number };
  getState: { args: undefined; result: ReplicaState };
  setState: { args: ReplicaState; result: null };
  call: { args: { method: string; args: unknown }; result: unknown };
}

/**
 * A WorkerPool module that hosts one replica: starts the backend, gradients and training kernels,
 * builds the replica from the caller's module, and serves the trainer's requests. The trainer also
 * calls it in its own thread when it runs a single replica.
 */
export const createWorker: CreateWorker<ReplicaWorkerCalls, ReplicaWorkerOptions> = async ({ workerIndex, workerCount, options }) => {
  const info = await useBackend(options.backend);
  await ensureGradients();
  await prepareTrainingBackend();
  const module = (await importWorkerModule(options.replicaModule)) as { createReplica?: CreateReplica };
  if (typeof module.createReplica !== 'function') {
    throw new RuntimeError('bad-replica-module', `DataParallelTrainer.create: ${options.replicaModule} must export createReplica(context)`);
  }
  const host = await ReplicaHost.create(module.createReplica, { workerIndex, workerCount, options: options.replicaOptions });
  return {
    handlers: {
      describe: () => ({ sizes: host.sizes, backend: info.name }),
      gradients: async (shard) => {
        const result = await host.gradients(shard);
        return withTransfer(result, [result.grads.buffer as ArrayBuffer]);
      },
      apply: ({ grads, combined }) => host.apply(grads, combined),
      getState: () => host.getState(),
      setState: async (state) => {
        await host.setState(state);
        return null;
      },
      call: ({ method, args }) => host.call(method, args),
    },
    dispose: () => host.dispose(),
  };
};
