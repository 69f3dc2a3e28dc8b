import {
  appendFileSync,
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { RuntimeError } from './errors.js';

/** What `FileStore.stat` tells about a path. */
export interface FileInfo {
  readonly directory: boolean;
  /** Bytes (0 for a folder). */
  readonly size: number;
  /** Last modification, milliseconds since the epoch. */
  readonly modifiedMs: number;
}

/**
 * The file operations the training library performs (datasets, checkpoints, metrics, artifacts),
 * as one object that an application passes in. `nodeFiles` is the Node implementation; a test or
 * another platform can provide its own. Paths are strings with `/` separators, or `file:` URLs
 * where a package reads its own bundled data. Every method is synchronous and throws on failure
 * except where it says otherwise.
 */
export interface FileStore {
  /** The whole file. Throws a `RuntimeError` `file-unreadable` naming the path and the reason. */
  readFile(path: string | URL): Uint8Array;
  /** Whether a file or folder exists at `path`. */
  exists(path: string | URL): boolean;
  /** What is at `path`, or `undefined` when nothing is. */
  stat(path: string): FileInfo | undefined;
  /** The names in folder `path`, sorted. Throws `file-unreadable` when it cannot be read. */
  list(path: string): string[];
  /** Create folder `path` and its parents; no error when it exists. */
  makeFolder(path: string): void;
  /** Replace `path` so that a crash at any moment leaves the old contents or the new, never a mix. */
  writeAtomic(path: string, data: Uint8Array | string): void;
  /** Append `text` to `path` (created when missing). */
  append(path: string, text: string): void;
  /** Remove the file at `path`; no error when it is already gone. */
  remove(path: string): void;
  /**
   * Take `folder` for this process: a second holder fails with `RuntimeError` `locked` naming the
   * living holder, while a lock left by a dead process is replaced. Returns the release function.
   */
  lock(folder: string): () => void;
  /** Remove the temporary files that a writer killed inside `writeAtomic` left in `folder`; returns their names. */
  removeStaleTemporaries(folder: string): string[];
  /** The folder for caches of decoded data (created by the caller when it writes there). */
  cacheFolder(): string;
}

function reason(error: unknown): string {
  return (error as NodeJS.ErrnoException).code ?? (error as Error).message;
}

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

/** Name of the lock file that `lockFolder` keeps in the folder it holds. */
export const LOCK_FILE = '.gq-train.lock';
/** Temporary files that `writeFileAtomic` leaves when a process dies between write and rename. */
const tempFilePattern = /^\..+\.\d+\.\d+\.tmp$/;

/** Whether process `pid` is alive (EPERM: it exists but belongs to someone else). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Take the lock of `folder` for this process: a second process on the same folder fails with
 * `RuntimeError` `locked` naming the holder, while a lock left by a dead process is replaced.
 * Re-taking a lock this process holds is allowed. Returns the function that releases it (also
 * called at process exit).
 */
export function lockFolder(folder: string): () => void {
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
        throw new RuntimeError('locked', `lockFolder: ${folder} is in use by another process (pid ${holder}); wait for it, or stop it`);
      }
      // A stale lock from a process that died (kill -9, power loss): take it over.
      rmSync(path, { force: true });
      if (attempt === 1) throw new RuntimeError('locked', `lockFolder: ${folder} could not be locked (${path} keeps reappearing)`);
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

/** Remove temporary files that a killed `writeFileAtomic` left in `folder` (call while holding its lock). Returns their names. */
export function removeStaleTempFiles(folder: string): string[] {
  const stale = readdirSync(folder).filter((name) => tempFilePattern.test(name));
  for (const name of stale) rmSync(join(folder, name), { force: true });
  return stale;
}

/** The Node file system as a `FileStore`; caches go to `$XDG_CACHE_HOME/gq-ts` or `~/.cache/gq-ts`. */
export const nodeFiles: FileStore = {
  readFile(path) {
    try {
      return new Uint8Array(readFileSync(path));
    } catch (error) {
      throw new RuntimeError('file-unreadable', `readFile: cannot read ${String(path)}: ${reason(error)}`);
    }
  },
  exists: (path) => existsSync(path),
  stat(path) {
    try {
      const info = statSync(path);
      return { directory: info.isDirectory(), size: info.isDirectory() ? 0 : info.size, modifiedMs: info.mtimeMs };
    } catch {
      return undefined;
    }
  },
  list(path) {
    try {
      return readdirSync(path).sort();
    } catch (error) {
      throw new RuntimeError('file-unreadable', `list: cannot read folder ${path}: ${reason(error)}`);
    }
  },
  makeFolder: (path) => void mkdirSync(path, { recursive: true }),
  writeAtomic: writeFileAtomic,
  append: (path, text) => appendFileSync(path, text),
  remove: (path) => rmSync(path, { force: true }),
  lock: lockFolder,
  removeStaleTemporaries: removeStaleTempFiles,
  cacheFolder: () => join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'gq-ts'),
};
