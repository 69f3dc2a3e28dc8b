// Shared by the apps' bin scripts: runs a TypeScript entry directly (tsx's loader plus the
// '@gq/source' export condition), so the workspace packages need no build step. The entry runs
// in a child process so that node flags and environment (e.g. LD_LIBRARY_PATH, read only at process
// start) apply to it; Ctrl-C reaches it too, and the apps save their work before exiting.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** Run `entry` (an absolute path) with the current arguments; exit with its exit code. */
export function runSource(entry, env = process.env) {
  const child = spawn(
    process.execPath,
    ['--conditions=@gq/source', '--import', require.resolve('tsx'), entry, ...process.argv.slice(2)],
    // GQ_LAUNCHER_PID lets the entry notice when this wrapper dies (kill -9) and stop, rather than run on orphaned.
    { stdio: 'inherit', env: { ...env, GQ_LAUNCHER_PID: String(process.pid) } },
  );
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => process.exit(code ?? (signal !== null ? 130 : 1)));
}
