import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';

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
