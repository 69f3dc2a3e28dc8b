import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Linter } from 'eslint';
import tseslint from 'typescript-eslint';
import { describe, expect, it } from 'vitest';
import { workspaceImports } from '../workspace-imports.js';

const root = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');

function lint(file: string, code: string): string[] {
  const linter = new Linter({ configType: 'flat' });
  const messages = linter.verify(
    code,
    [
      {
        files: ['**/*.ts'],
        languageOptions: { parser: tseslint.parser as Linter.Parser },
        plugins: { gq: { rules: { 'workspace-imports': workspaceImports } } },
        rules: { 'gq/workspace-imports': 'error' },
      },
    ],
    join(root, file),
  );
  return messages.map((m) => m.message);
}

describe('gq/workspace-imports', () => {
  it('accepts exported entries, own relative files and external packages', () => {
    expect(lint('apps/bench/src/x.ts', "import { trainRun } from '@gq/training';\nimport './runs.js';\nimport * as tf from '@tensorflow/tfjs-core';")).toEqual([]);
    expect(lint('apps/train/src/x.ts', "import { DataParallelTrainer } from '@gq/runtime/parallel';")).toEqual([]);
  });
  it("rejects a path that the target's exports map does not export", () => {
    const [message] = lint('apps/bench/src/x.ts', "import { evaluate } from '@gq/training/src/evaluate.js';");
    expect(message).toMatch(/'@gq\/training\/src\/evaluate\.js' is not in @gq\/training's exports map/);
  });
  it('rejects a relative path into another package', () => {
    const [message] = lint('apps/bench/src/suites/x.ts', "import { pool } from '../../../../packages/codebook/bench/pool.js';");
    expect(message).toMatch(/reaches into @gq\/codebook/);
  });
  it('rejects an app importing another app, also dynamically', () => {
    expect(lint('apps/bench/src/x.ts', "import '@gq/train';")[0]).toMatch(/imports the app @gq\/train/);
    expect(lint('packages/training/src/x.ts', "await import('@gq/infer');")[0]).toMatch(/imports the app @gq\/infer/);
  });
});
