import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

/*
 * Running TypeScript worker modules from source. Node 20 runs no ESM loader hooks inside worker
 * threads, so a worker started from source is a small CommonJS bootstrap that installs tsx's
 * require hooks (which every later require in the thread goes through) and then loads the entry;
 * TypeScript modules are then loaded with require. The '@gq/source' export condition makes the
 * workspace packages resolve to their sources in the thread too.
 */

const tsxFlag = Symbol.for('@gq/runtime/tsx-worker');

/** How to start a worker thread on `entry`: what `new Worker()` takes. */
export interface WorkerEntry {
  readonly source: URL | string;
  readonly eval: boolean;
  readonly execArgv: string[];
}

/** A path, a file path or a URL string as a URL string. */
export function moduleUrl(module: string | URL): string {
  if (module instanceof URL) return module.href;
  return /^[a-z][a-z0-9+.-]*:/i.test(module) && !/^[a-z]:[\\/]/i.test(module) ? module : pathToFileURL(module).href;
}

/**
 * The sibling module `name` of `base` (an `import.meta.url`): `name.ts` when `base` runs from source,
 * `name.js` in a build.
 */
export function siblingModule(name: string, base: string): URL {
  return new URL(`./${name}${base.endsWith('.ts') ? '.ts' : '.js'}`, base);
}

/**
 * The worker-thread start for `entry`. When `entry` or `module` (the module the entry will load) is
 * TypeScript, the thread starts with the tsx bootstrap (tsx must be installed); otherwise it starts
 * on `entry` directly.
 */
export function workerEntry(entry: URL, module?: string): WorkerEntry {
  const typescript = entry.href.endsWith('.ts') || (module !== undefined && module.endsWith('.ts'));
  if (!typescript) return { source: entry, eval: false, execArgv: [...process.execArgv] };
  const require = createRequire(import.meta.url);
  const tsx = require.resolve('tsx/cjs/api');
  const load = entry.href.endsWith('.ts')
    ? `require(${JSON.stringify(fileURLToPath(entry))});`
    : `import(${JSON.stringify(entry.href)}).catch((error) => { setImmediate(() => { throw error; }); });`;
  const bootstrap = `require(${JSON.stringify(tsx)}).register(); globalThis[Symbol.for('@gq/runtime/tsx-worker')] = true; ${load}`;
  const execArgv = [...new Set([...process.execArgv, '--conditions=@gq/source'])];
  return { source: bootstrap, eval: true, execArgv };
}

/**
 * Import a worker's module by URL: a TypeScript module in a thread that the tsx bootstrap started is
 * loaded through tsx's require hooks, anything else with `import()`.
 */
export function importWorkerModule(url: string): Promise<unknown> {
  if (url.endsWith('.ts') && (globalThis as Record<symbol, unknown>)[tsxFlag] === true) {
    const require = createRequire(import.meta.url);
    return Promise.resolve(require(fileURLToPath(url)) as unknown);
  }
  return import(/* @vite-ignore */ url);
}
