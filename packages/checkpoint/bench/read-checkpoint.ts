import { readTorchCheckpoint } from '@gq/checkpoint';
import { readFixtureBytes } from '@gq/test-utils';
import { benchFlag, medianMs } from '@gq/test-utils/bench';
import { PickleWriter, torchArchive } from '../test/builders.js';

/*
 * pnpm --filter @gq/checkpoint bench [-- --runs N]
 * Times readTorchCheckpoint on the vit-tiny fixture and on a synthetic 64 MiB state dict, with
 * and without CRC checks, and a transposed-view variant that takes the strided gather path. The
 * baseline, measured in the same run, is one plain copy of the same file (`Uint8Array.slice`):
 * a reader that copies each tensor once cannot beat it by much.
 */
const runs = benchFlag('runs', 15);

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
  ['vit-tiny fixture', readFixtureBytes('vit-tiny', 'model.ckpt')],
  ['synthetic 16×[1024,1024] F32', synthetic(16, 1024, 1024, false)],
  ['same, transposed views', synthetic(16, 1024, 1024, true)],
];

console.log(`readTorchCheckpoint, median of ${runs} runs (Node ${process.version}; shared machine, ±30 %)`);
console.log('case | MiB | copy baseline ms | read ms (CRC on) | ratio | read ms (CRC off) | ratio | MiB/s (CRC off)');
for (const [name, bytes] of cases) {
  const mib = bytes.length / 2 ** 20;
  const baseline = await medianMs(() => bytes.slice(), runs);
  const checked = await medianMs(() => readTorchCheckpoint(bytes), runs);
  const unchecked = await medianMs(() => readTorchCheckpoint(bytes, { verifyCrc: false }), runs);
  console.log(
    [name, mib.toFixed(2), baseline.toFixed(2), checked.toFixed(2), (checked / baseline).toFixed(1), unchecked.toFixed(2),
      (unchecked / baseline).toFixed(1), (mib / (unchecked / 1000)).toFixed(0)].join(' | '),
  );
}
