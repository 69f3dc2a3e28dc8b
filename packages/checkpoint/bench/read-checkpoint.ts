import { readFileSync } from 'node:fs';
import { readTorchCheckpoint } from '../src/index.js';
import { PickleWriter, torchArchive } from '../test/builders.js';

/*
 * pnpm --filter @gq/checkpoint bench [-- --runs N]
 * Times readTorchCheckpoint on the vit-tiny fixture and on a synthetic 64 MiB state dict, with
 * and without CRC checks, and a transposed-view variant that takes the strided gather path. The
 * baseline, measured in the same run, is one plain copy of the same file (`Uint8Array.slice`):
 * a reader that copies each tensor once cannot beat it by much.
 */
function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const runs = flag('runs', 15);

function median(run: () => unknown): number {
  const times: number[] = [];
  for (let i = 0; i < 3; i++) run(); // let the JIT settle before timing
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    run();
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

function synthetic(tensorCount: number, rows: number, cols: number, transposed: boolean): Uint8Array {
  const p = new PickleWriter().proto(2).emptyDict().str('state_dict').emptyDict().mark();
  const storages: Record<string, Uint8Array> = {};
  for (let t = 0; t < tensorCount; t++) {
    const values = new Float32Array(rows * cols);
    for (let i = 0; i < values.length; i++) values[i] = Math.sin(i + t);
    storages[String(t)] = new Uint8Array(values.buffer);
    const [size, stride] = transposed ? [[cols, rows], [1, cols]] : [[rows, cols], [cols, 1]];
    p.str(`layer.${t}.weight`).tensor({ type: 'FloatStorage', key: String(t), numel: rows * cols }, 0, size, stride);
  }
  p.setitems().setitem().stop();
  return torchArchive(p.bytes(), storages);
}

const cases: [string, Uint8Array][] = [
  // The shared fixtures folder sits beside the repository checkout.
  ['vit-tiny fixture', new Uint8Array(readFileSync(new URL('../../../../shared/fixtures/vit-tiny/model.ckpt', import.meta.url)))],
  ['synthetic 16×[1024,1024] F32', synthetic(16, 1024, 1024, false)],
  ['same, transposed views', synthetic(16, 1024, 1024, true)],
];

console.log(`readTorchCheckpoint, median of ${runs} runs (Node ${process.version}; shared machine, ±30 %)`);
console.log('case | MiB | copy baseline ms | read ms (CRC on) | ratio | read ms (CRC off) | ratio | MiB/s (CRC off)');
for (const [name, bytes] of cases) {
  const mib = bytes.length / 2 ** 20;
  const baseline = median(() => bytes.slice());
  const checked = median(() => readTorchCheckpoint(bytes));
  const unchecked = median(() => readTorchCheckpoint(bytes, { verifyCrc: false }));
  console.log(
    [name, mib.toFixed(2), baseline.toFixed(2), checked.toFixed(2), (checked / baseline).toFixed(1), unchecked.toFixed(2),
      (unchecked / baseline).toFixed(1), (mib / (unchecked / 1000)).toFixed(0)].join(' | '),
  );
}
