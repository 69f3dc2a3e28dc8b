import { createCodebook, torchSobolTable, type GeneratedCodebookMethod } from '@gq/codebook';

/*
 * Codebook generation time, K = 65 536, m = 16, seed 42: each method's first call (what a
 * tokenizer load pays, JIT warm-up included), then the best of three more runs of the reference
 * table ('torch-sobol', uncached through torchSobolTable). Shared machines make this noisy.
 */

const SIZE = 65536;
const DIM = 16;

function seconds(run: () => unknown): number {
  const start = performance.now();
  run();
  return (performance.now() - start) / 1000;
}

const methods: GeneratedCodebookMethod[] = ['torch-sobol', 'sobol', 'normal'];
console.log(`Codebook generation, K=${SIZE}, m=${DIM}, seed 42 (Node ${process.version})`);
for (const method of methods) {
  console.log(`createCodebook ${method}: ${seconds(() => createCodebook({ size: SIZE, dim: DIM, seed: 42, method })).toFixed(3)} s (first call)`);
}
const repeats = [0, 1, 2].map(() => seconds(() => torchSobolTable(SIZE, DIM, 42)));
console.log(`torchSobolTable: ${Math.min(...repeats).toFixed(3)} s (best of 3: ${repeats.map((s) => s.toFixed(3)).join(', ')})`);
