import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { isGqError } from '@gq/core';
import { RuntimeError } from '../errors.js';
import type { AnyCalls, CreateWorker, FromPoolWorker, PoolWorkerData, SerializedError, ToPoolWorker, WorkerService } from './pool.js';
import { importWorkerModule } from './source.js';
import { isTransferred } from './transfer.js';

/*
 * The entry of every WorkerPool thread: loads the pool's module, calls its createWorker once, then
 * answers each request when its handler finishes (async handlers may overlap).
 */

function serialize(error: unknown): SerializedError {
  if (!(error instanceof Error)) return { name: 'Error', message: String(error) };
  return {
    name: error.name,
    message: error.message,
    ...(error.stack !== undefined ? { stack: error.stack } : {}),
    ...(isGqError(error) ? { code: error.code } : {}),
  };
}

async function handle(port: MessagePort, service: WorkerService<AnyCalls>, message: ToPoolWorker): Promise<void> {
  const post = (reply: FromPoolWorker, transfer: readonly ArrayBuffer[] = []): void => port.postMessage(reply, [...transfer]);
  try {
    if (message.kind === 'close') {
      await service.dispose?.();
      post({ kind: 'result', id: message.id, value: null });
      port.close();
      return;
    }
    const handler = Object.hasOwn(service.handlers, message.method) ? service.handlers[message.method] : undefined;
    if (typeof handler !== 'function') {
      throw new RuntimeError('unknown-request', `worker: no handler for '${message.method}' (handlers: ${Object.keys(service.handlers).join(', ')})`);
    }
    const value = await handler(message.args);
    if (isTransferred(value)) {
      port.postMessage({ kind: 'result', id: message.id, value: value.value } satisfies FromPoolWorker, [...value.transfer]);
    } else {
      post({ kind: 'result', id: message.id, value });
    }
  } catch (error) {
    post({ kind: 'error', id: message.id, error: serialize(error) });
  }
}

async function main(port: MessagePort, setup: PoolWorkerData): Promise<void> {
  const module = (await importWorkerModule(setup.module)) as { createWorker?: CreateWorker };
  if (typeof module.createWorker !== 'function') {
    throw new RuntimeError('bad-worker-module', `WorkerPool: ${setup.module} must export createWorker(context)`);
  }
  const service = await module.createWorker({ workerIndex: setup.workerIndex, workerCount: setup.workerCount, options: setup.options });
  port.on('message', (message: ToPoolWorker) => {
    void handle(port, service, message);
  });
  port.postMessage({ kind: 'ready' } satisfies FromPoolWorker);
}

const port = parentPort;
if (port === null) throw new RuntimeError('not-a-worker', 'pool-worker: must run in a worker thread started by WorkerPool');
main(port, workerData as PoolWorkerData).catch((error: unknown) => {
  port.postMessage({ kind: 'error', id: -1, error: serialize(error) } satisfies FromPoolWorker);
});
