import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { writeFileAtomic } from '@gq/training';

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
