import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { methods } from '@gq/training';

const bin = fileURLToPath(new URL('../bin/gq-train.mjs', import.meta.url));

function gqTrain(...args: string[]) {
  const result = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('gq-train command line', () => {
  it('--help lists every method of the registry', () => {
    const { status, stdout } = gqTrain('--help');
    expect(status).toBe(0);
    // commander wraps the help text: compare with white space folded.
    expect(stdout.replace(/\s+/g, ' ')).toContain(methods.join(' | '));
  });

  it('a bad option fails before training: one line naming the option, exit code 2, nothing written', () => {
    const out = join(mkdtempSync(join(tmpdir(), 'gq-cli-')), 'run');
    const { status, stderr } = gqTrain('--method', 'bsq', '--bits', '1', '--out', out);
    expect(status).toBe(2);
    expect(stderr.trim()).toBe('gq-train: bsq needs at least 2 bits per position (C ≥ 2 channels on the sphere), got 1');
    expect(() => readdirSync(out)).toThrow();
    const backend = gqTrain('--backend', 'nope', '--out', out);
    expect(backend.status).toBe(2);
    expect(backend.stderr.trim()).toBe("gq-train: --backend must be one of tensorflow, webgpu, wasm, cpu, got 'nope'");
    expect(() => readdirSync(out)).toThrow();
    const unknown = gqTrain('--method', 'vqgan', '--out', out);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain(`--method must be one of ${methods.join(', ')}, got 'vqgan'`);
  });
});
