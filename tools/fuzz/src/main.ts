/*
 * `pnpm fuzz [--cases N] [--seed S] [--formats gqt,ckpt] [--parallel P]`: the full fuzz run.
 * Exits 1 when any case hangs, blows up memory, crashes or throws an untyped error.
 */
import { parseArgs } from 'node:util';
import { formats, type Format } from './formats.js';
import { runFuzz } from './run.js';

const { values } = parseArgs({
  options: {
    cases: { type: 'string', default: '10000' },
    seed: { type: 'string', default: '1' },
    formats: { type: 'string', default: formats.join(',') },
    parallel: { type: 'string', default: '2' },
  },
});
const chosen = values.formats.split(',') as Format[];
for (const format of chosen) if (!(formats as readonly string[]).includes(format)) throw new Error(`fuzz: --formats takes ${formats.join(', ')}, got '${format}'`);
const summaries = await runFuzz({
  cases: Number(values.cases),
  seed: Number(values.seed),
  formats: chosen,
  parallel: Number(values.parallel),
  log: (line) => console.log(line),
});
let bad = 0;
for (const summary of summaries) {
  bad += summary.hangs + summary.memoryBlowUps + summary.untyped + summary.crashes;
  for (const failure of summary.failures.slice(0, 20)) console.log(`  ${failure}`);
  console.log(`  ${summary.format} error codes: ${JSON.stringify(summary.codes)}`);
}
console.log(bad === 0 ? 'fuzz: no hangs, memory blow-ups, crashes or untyped errors' : `fuzz: ${bad} failing cases`);
process.exitCode = bad === 0 ? 0 : 1;
