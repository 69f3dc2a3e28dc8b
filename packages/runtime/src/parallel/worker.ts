import { fileURLToPath } from 'node:url';
import { parentPort, workerData } from 'node:worker_threads';
import { useBackend, type BackendName } from '../backend.js';
import { ensureGradients } from '../gradients.js';
import { ReplicaHost } from './host.js';
import type { CreateReplica, FromWorker, ToWorker } from './protocol.js';
import { prepareTrainingBackend } from './prepare.js';

interface WorkerSetup {
  readonly replicaModule: string;
  readonly backend: BackendName;
  readonly workerIndex: number;
  readonly workerCount: number;
  readonly options: unknown;
}

const port = parentPort;
if (port === null) throw new Error('parallel/worker must run in a worker thread');
const setup = workerData as WorkerSetup;

function post(message: FromWorker, transfer: ArrayBuffer[] = []): void {
  port!.postMessage(message, transfer);
}

/**
 * Import the replica module. A TypeScript module (source mode) is required through the tsx hooks
 * the bootstrap installed, since Node 20 cannot run ESM hooks in workers.
 */
function loadModule(url: string): Promise<unknown> {
  if (url.endsWith('.ts') && typeof require === 'function') {
    return Promise.resolve(require(fileURLToPath(url)) as unknown);
  }
  return import(url);
}

async function main(): Promise<void> {
  const info = await useBackend(setup.backend);
  await ensureGradients();
  await prepareTrainingBackend();
  const module = (await loadModule(setup.replicaModule)) as { createReplica?: CreateReplica };
  if (typeof module.createReplica !== 'function') {
    throw new Error(`${setup.replicaModule} must export createReplica(context)`);
  }
  const host = await ReplicaHost.create(module.createReplica, {
    workerIndex: setup.workerIndex,
    workerCount: setup.workerCount,
    options: setup.options,
  });
  port!.on('message', (message: ToWorker) => {
    void handle(host, message);
  });
  post({ kind: 'ready', sizes: host.sizes, backend: info.name });
}

async function handle(host: ReplicaHost, message: ToWorker): Promise<void> {
  try {
    switch (message.kind) {
      case 'grads': {
        const { loss, grads, stats } = await host.gradients(message.shard);
        post({ kind: 'grads', id: message.id, loss, grads, stats }, [grads.buffer as ArrayBuffer]);
        return;
      }
      case 'apply':
        await host.apply(message.grads, message.combined);
        post({ kind: 'result', id: message.id, value: null });
        return;
      case 'get-state':
        post({ kind: 'result', id: message.id, value: await host.getState() });
        return;
      case 'set-state':
        await host.setState(message.state);
        post({ kind: 'result', id: message.id, value: null });
        return;
      case 'call':
        post({ kind: 'result', id: message.id, value: await host.call(message.method, message.args) });
        return;
      case 'close':
        host.dispose();
        post({ kind: 'result', id: message.id, value: null });
        port!.close();
        return;
    }
  } catch (error) {
    const e = error instanceof Error ? error : new Error(String(error));
    post({ kind: 'error', id: message.id, message: e.message, ...(e.stack !== undefined ? { stack: e.stack } : {}) });
  }
}

main().catch((error: unknown) => {
  const e = error instanceof Error ? error : new Error(String(error));
  post({ kind: 'error', id: -1, message: e.message, ...(e.stack !== undefined ? { stack: e.stack } : {}) });
});
