import { closeSync, fsyncSync, openSync, readFileSync, readdirSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';
import { TrainError } from './errors.js';

/**
 * Write `data` to `path` so that a crash at any moment leaves either the old file or the new one,
 * never a truncated mix: write a temporary file in the same folder, fsync it, rename it over
 * `path` (atomic on POSIX), then fsync the folder so the rename itself is durable.
 */
export function writeFileAtomic(path: string, data: Uint8Array | string): void {
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
  const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
  let fd = openSync(temp, 'w', 0o644);
  try {
    let offset = 0;
    while (offset < bytes.length) offset += writeSync(fd, bytes, offset, bytes.length - offset);
    fsyncSync(fd);
  } catch (error) {
    closeSync(fd);
    rmSync(temp, { force: true });
    throw error;
  }
  closeSync(fd);
  renameSync(temp, path);
  try {
    fd = openSync(dirname(path), 'r');
    fsyncSync(fd);
    closeSync(fd);
  } catch {
    // Some file systems cannot fsync a directory; the rename is still atomic.
  }
}

/** Name of the lock file a training run holds in its output folder. */
export const LOCK_FILE = '.gq-train.lock';
/** Temporary files that `writeFileAtomic` leaves when a process dies between write and rename. */
const tempFilePattern = /^\..+\.\d+\.\d+\.tmp$/;

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Take the lock of an output folder for this process: a second trainer on the same folder fails
 * with `TrainError` `locked` naming the holder, while a lock left by a dead process is replaced.
 * Re-taking a lock this process holds is allowed. Returns the function that releases it (also
 * called at process exit).
 */
export function lockOutputFolder(folder: string): () => void {
  const path = join(folder, LOCK_FILE);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o644);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      let holder = Number.NaN;
      try {
        holder = Number.parseInt(readFileSync(path, 'utf8'), 10);
      } catch {
        // Removed between our open and read: try again.
      }
      if (holder === process.pid) break;
      if (Number.isSafeInteger(holder) && holder > 0 && processAlive(holder)) {
        throw new TrainError('locked', `the output folder ${folder} is in use by another training process (pid ${holder}); wait for it, or stop it`);
      }
      // A stale lock from a process that died (kill -9, power loss): take it over.
      rmSync(path, { force: true });
      if (attempt === 1) throw new TrainError('locked', `the output folder ${folder} could not be locked (${path} keeps reappearing)`);
    }
  }
  if (heldLocks.size === 0) process.once('exit', releaseAll);
  heldLocks.add(path);
  return () => releaseLock(path);
}

/** Lock files this process holds, removed at exit. */
const heldLocks = new Set<string>();

function releaseLock(path: string): void {
  heldLocks.delete(path);
  try {
    if (Number.parseInt(readFileSync(path, 'utf8'), 10) === process.pid) rmSync(path, { force: true });
  } catch {
    // Already gone.
  }
}

function releaseAll(): void {
  for (const path of [...heldLocks]) releaseLock(path);
}

/** Remove temporary files that a killed writer left in `folder` (call while holding its lock). Returns their names. */
export function removeStaleTempFiles(folder: string): string[] {
  const stale = readdirSync(folder).filter((name) => tempFilePattern.test(name));
  for (const name of stale) rmSync(join(folder, name), { force: true });
  return stale;
}

/**
 * Keep the lines of a JSON-lines metrics file whose `step` is at most `step` (the checkpoint a
 * run resumes from), so replayed steps are not logged twice. Rewritten atomically.
 */
export function truncateMetrics(path: string, step: number): void {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return;
  }
  const kept = text.split('\n').filter((line) => {
    if (line.trim() === '') return false;
    try {
      const value = (JSON.parse(line) as { step?: unknown }).step;
      return typeof value === 'number' && value <= step;
    } catch {
      // A line cut by a crash mid-append.
      return false;
    }
  });
  writeFileAtomic(path, kept.map((line) => `${line}\n`).join(''));
}

/**
 * Call `onGone` once when the launcher process `launcherPid` (the `gq-train` wrapper) has died,
 * checking every `intervalMs`: a trainer whose wrapper was killed with `kill -9` stops instead of
 * running on unseen. Returns a function that stops watching. The timer never keeps the process alive.
 */
export function watchLauncher(launcherPid: number, onGone: () => void, intervalMs = 1000): () => void {
  const wasParent = process.ppid === launcherPid;
  const timer = setInterval(() => {
    if (!processAlive(launcherPid) || (wasParent && process.ppid !== launcherPid)) {
      clearInterval(timer);
      onGone();
    }
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
