import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { isGqError } from '@gq/core';
import { LOCK_FILE, nodeFiles, removeStaleTempFiles, writeFileAtomic } from '@gq/runtime/files';

describe('writeFileAtomic', () => {
  it('replaces the file in one step and leaves no temporary file behind', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gq-atomic-'));
    const path = join(dir, 'artifact.bin');
    writeFileSync(path, 'old contents');
    writeFileAtomic(path, new Uint8Array([1, 2, 3]));
    expect(Array.from(readFileSync(path))).toEqual([1, 2, 3]);
    expect(readdirSync(dir)).toEqual(['artifact.bin']);
  });

  it('keeps the good file when the write fails (target folder unwritable path)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gq-atomic-'));
    const path = join(dir, 'good.bin');
    writeFileSync(path, 'good');
    // A temporary file in a missing folder cannot be created: the error surfaces, the old file stays.
    expect(() => writeFileAtomic(join(dir, 'missing', 'good.bin'), 'new')).toThrow(/ENOENT/);
    expect(readFileSync(path, 'utf8')).toBe('good');
    expect(readdirSync(dir)).toEqual(['good.bin']);
  });

  it('survives kill -9 in the middle of writes: the file is always one whole version', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gq-atomic-kill-'));
    const path = join(dir, 'checkpoint.bin');
    const tsx = createRequire(import.meta.url).resolve('tsx');
    for (let round = 0; round < 3; round++) {
      const child = spawn(process.execPath, ['--conditions=@gq/source', '--import', tsx, new URL('./helpers/atomic-writer.ts', import.meta.url).pathname, path]);
      await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
      await new Promise((resolve) => setTimeout(resolve, 150 + 100 * round));
      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('exit', resolve));
      const bytes = readFileSync(path);
      expect(bytes.length).toBe(16 * 1024 * 1024);
      const first = bytes[0]!;
      expect([0xaa, 0x55]).toContain(first);
      expect(bytes.every((b) => b === first)).toBe(true);
    }
  }, 60_000);
});

describe('nodeFiles', () => {
  it('lists sorted names, stats files and folders, reads bytes, appends, and names a missing file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gq-files-'));
    writeFileSync(join(dir, 'b.bin'), new Uint8Array([7, 8, 9]));
    mkdirSync(join(dir, 'a'));
    nodeFiles.append(join(dir, 'c.txt'), 'x');
    nodeFiles.append(join(dir, 'c.txt'), 'yz');
    expect(nodeFiles.list(dir)).toEqual(['a', 'b.bin', 'c.txt']);
    expect(nodeFiles.stat(join(dir, 'a'))).toMatchObject({ directory: true, size: 0 });
    expect(nodeFiles.stat(join(dir, 'b.bin'))).toMatchObject({ directory: false, size: 3 });
    expect(nodeFiles.stat(join(dir, 'none'))).toBeUndefined();
    expect(Array.from(nodeFiles.readFile(join(dir, 'b.bin')))).toEqual([7, 8, 9]);
    expect(new TextDecoder().decode(nodeFiles.readFile(new URL(`file://${join(dir, 'c.txt')}`)))).toBe('xyz');
    expect(nodeFiles.exists(join(dir, 'c.txt'))).toBe(true);
    nodeFiles.remove(join(dir, 'c.txt'));
    nodeFiles.remove(join(dir, 'c.txt'));
    expect(nodeFiles.exists(join(dir, 'c.txt'))).toBe(false);
    let caught: unknown;
    try {
      nodeFiles.readFile(join(dir, 'none'));
    } catch (error) {
      caught = error;
    }
    expect(isGqError(caught) && caught.code).toBe('file-unreadable');
    expect((caught as Error).message).toMatch(/readFile: cannot read .*none: ENOENT/);
    expect(() => nodeFiles.list(join(dir, 'none'))).toThrow(/list: cannot read folder .*none: ENOENT/);
    nodeFiles.makeFolder(join(dir, 'x', 'y'));
    nodeFiles.makeFolder(join(dir, 'x', 'y'));
    expect(nodeFiles.stat(join(dir, 'x', 'y'))?.directory).toBe(true);
  });

  it('removes temporary files that a killed writer left, and nothing else', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gq-files-'));
    for (const name of ['.checkpoint.safetensors.4242.1700000000000.tmp', '.metrics.jsonl.1.2.tmp', 'checkpoint.safetensors', 'notes.tmp']) writeFileSync(join(dir, name), 'x');
    expect(removeStaleTempFiles(dir).sort()).toEqual(['.checkpoint.safetensors.4242.1700000000000.tmp', '.metrics.jsonl.1.2.tmp']);
    expect(readdirSync(dir).sort()).toEqual(['checkpoint.safetensors', 'notes.tmp']);
  });

  it('locks a folder against a living holder with RuntimeError locked, and takes over a dead one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gq-files-'));
    const holder = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)']);
    writeFileSync(join(dir, LOCK_FILE), `${holder.pid}\n`);
    let caught: unknown;
    try {
      nodeFiles.lock(dir);
    } catch (error) {
      caught = error;
    } finally {
      holder.kill('SIGKILL');
      await new Promise((done) => holder.once('exit', done));
    }
    expect(isGqError(caught) && caught.code).toBe('locked');
    expect((caught as Error).message).toContain(`in use by another process (pid ${holder.pid})`);
    const release = nodeFiles.lock(dir);
    expect(readFileSync(join(dir, LOCK_FILE), 'utf8')).toBe(`${process.pid}\n`);
    release();
    expect(readdirSync(dir)).toEqual([]);
  });
});
