import { isGqError } from '@gq/core';
import { processAlive, type FileStore } from '@gq/runtime/files';
import { TrainError } from './errors.js';

/**
 * Take the output folder for this training process (`FileStore.lock`): a second trainer on the same
 * folder fails with `TrainError` `locked` naming the holder. Returns the release function.
 */
export function lockOutputFolder(files: FileStore, folder: string): () => void {
  try {
    return files.lock(folder);
  } catch (error) {
    if (isGqError(error) && error.code === 'locked') {
      throw new TrainError('locked', `the output folder ${folder} cannot be used: ${error.message.replace(/^lockFolder: /, '')}`);
    }
    throw error;
  }
}

/**
 * Keep the lines of a JSON-lines metrics file whose `step` is at most `step` (the checkpoint a
 * run resumes from), so replayed steps are not logged twice. Rewritten atomically.
 */
export function truncateMetrics(files: FileStore, path: string, step: number): void {
  if (!files.exists(path)) return;
  const text = new TextDecoder().decode(files.readFile(path));
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
  files.writeAtomic(path, kept.map((line) => `${line}\n`).join(''));
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
