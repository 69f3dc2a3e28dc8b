import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LOCK_FILE, nodeFiles } from '@gq/runtime/files';
import { lockOutputFolder, truncateMetrics, watchLauncher } from '@gq/training';

function folder(): string {
  return mkdtempSync(join(tmpdir(), 'gq-run-safety-'));
}

/** The pid of a process that has exited (and been reaped). */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  return Number(child.stdout.toString());
}

describe('one trainer per output folder', () => {
  it('refuses a second trainer while the holder lives, and takes over a stale lock', async () => {
    const dir = folder();
    // A live holder: a child process that sleeps.
    const holder = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)']);
    writeFileSync(join(dir, LOCK_FILE), `${holder.pid}\n`);
    try {
      expect(() => lockOutputFolder(nodeFiles, dir)).toThrow(new RegExp(`output folder .* cannot be used: .*in use by another process \\(pid ${holder.pid}\\)`));
    } finally {
      holder.kill('SIGKILL');
      await new Promise((done) => holder.once('exit', done));
    }
    // The holder died without removing its lock: the next trainer takes it over.
    const release = lockOutputFolder(nodeFiles, dir);
    expect(readFileSync(join(dir, LOCK_FILE), 'utf8')).toBe(`${process.pid}\n`);
    // The holder may lock again (a resume in the same process).
    lockOutputFolder(nodeFiles, dir);
    release();
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
    writeFileSync(join(dir, LOCK_FILE), `${deadPid()}\n`);
    lockOutputFolder(nodeFiles, dir)();
  });
});

describe('metrics of killed runs', () => {
  it('truncates metrics.jsonl to the checkpoint step, dropping replayed steps and a line cut by a crash', () => {
    const dir = folder();
    const path = join(dir, 'metrics.jsonl');
    const lines = Array.from({ length: 60 }, (_, i) => JSON.stringify({ step: i + 1, loss: 1 / (i + 1) }));
    writeFileSync(path, `${lines.join('\n')}\n{"step": 61, "lo`);
    truncateMetrics(nodeFiles, path, 40);
    const kept = readFileSync(path, 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { step: number }).step);
    expect(kept).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    truncateMetrics(nodeFiles, join(dir, 'absent.jsonl'), 3);
    expect(existsSync(join(dir, 'absent.jsonl'))).toBe(false);
  });
});

describe('a trainer stops when its launcher dies', () => {
  it('calls back once the launcher process is gone', async () => {
    const launcher = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)']);
    let gone = 0;
    const stop = watchLauncher(launcher.pid!, () => gone++, 20);
    await new Promise((done) => setTimeout(done, 100));
    expect(gone).toBe(0);
    launcher.kill('SIGKILL');
    await new Promise((done) => launcher.once('exit', done));
    await new Promise((done) => setTimeout(done, 200));
    expect(gone).toBe(1);
    stop();
  });
});
