import tseslint from 'typescript-eslint';
import { workspaceImports } from './tools/eslint-rules/workspace-imports.js';

const backendImports = [
  { group: ['@tensorflow/tfjs-backend-*', '@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs'], message: 'Library packages import only @tensorflow/tfjs-core; apps and @gq/runtime choose the backend.' },
  { group: ['node:*', 'fs', 'fs/*', 'path', 'os', 'child_process', 'worker_threads', 'http', 'https', 'net'], message: 'Library packages do no I/O: take and return tensors, typed arrays and ArrayBuffers.' },
];

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', '**/.turbo/**', '**/runs/**', '**/*.d.ts'] },
  {
    files: ['**/*.ts', '**/*.mts'],
    languageOptions: { parser: tseslint.parser },
    plugins: { '@typescript-eslint': tseslint.plugin },
    rules: {
      'no-debugger': 'error',
      'no-var': 'error',
      'prefer-const': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    files: ['**/*.ts', '**/*.mts', '**/*.js', '**/*.mjs'],
    plugins: { gq: { rules: { 'workspace-imports': workspaceImports } } },
    rules: { 'gq/workspace-imports': 'error' },
  },
  {
    // @gq/runtime chooses backends, runs workers and implements the Node file store; every other package takes what it needs as arguments.
    files: ['packages/*/src/**/*.ts'],
    ignores: ['packages/runtime/src/**'],
    rules: { 'no-restricted-imports': ['error', { patterns: backendImports }] },
  },
);
