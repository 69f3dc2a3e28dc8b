import { afterAll, describe, expect, expectTypeOf, it } from 'vitest';
import { DataParallelTrainer, type Shard, type StepTiming } from '@gq/runtime/parallel';
import { seededNormal } from '@gq/test-utils';
import type { LinearTypes, SumStats } from './replicas/linear.js';
import { firstNonFinite } from '../src/parallel/host.js';

const replicaModule = new URL('./replicas/linear.ts', import.meta.url);
const inputs = 8;
const outputs = 3;

/** A fixed regression problem: y = x·A + 0.5 with a seeded A, batch 32 split into `parts` shards. */
function batches(steps: number, parts: number): Shard[][] {
  const normal = seededNormal(7);
  const a = Float32Array.from({ length: inputs * outputs }, normal);
  const out: Shard[][] = [];
  for (let s = 0; s < steps; s++) {
    const n = 32 / parts;
    const shards: Shard[] = [];
    for (let p = 0; p < parts; p++) {
      const x = Float32Array.from({ length: n * inputs }, normal);
      const y = new Float32Array(n * outputs);
      for (let r = 0; r < n; r++) {
        for (let o = 0; o < outputs; o++) {
          let acc = 0.5;
          for (let i = 0; i < inputs; i++) acc += x[r * inputs + i]! * a[i * outputs + o]!;
          y[r * outputs + o] = acc;
        }
      }
      shards.push({ x: { shape: [n, inputs], data: x }, y: { shape: [n, outputs], data: y } });
    }
    out.push(shards);
  }
  return out;
}

function mergeShards(shards: Shard[]): Shard {
  const cat = (key: string) => {
    const parts = shards.map((s) => s[key]!);
    const data = new Float32Array(parts.reduce((n, p) => n + p.data.length, 0));
    let offset = 0;
    for (const p of parts) {
      data.set(p.data, offset);
      offset += p.data.length;
    }
    return { shape: [parts.reduce((n, p) => n + p.shape[0]!, 0), parts[0]!.shape[1]!], data };
  };
  return { x: cat('x'), y: cat('y') };
}

const sumStats = (stats: readonly SumStats[]): SumStats => stats.reduce((a, b) => ({ sum: a.sum + b.sum, n: a.n + b.n }), { sum: 0, n: 0 });

async function run(workers: number, steps: number): Promise<{ losses: number[]; state: Float32Array[]; trainer: DataParallelTrainer<LinearTypes> }> {
  const trainer = await DataParallelTrainer.create<LinearTypes>({
    replicaModule,
    workers,
    backend: 'wasm',
    replicaOptions: { inputs, outputs, seed: 3 },
    combine: sumStats,
  });
  const losses: number[] = [];
  for (const shards of batches(steps, 2)) {
    const input = workers === 1 ? [mergeShards(shards)] : shards;
    losses.push((await trainer.step(input)).loss);
  }
  const state = await trainer.getState();
  return { losses, state: Object.values(state.arrays).map((a) => a.data as Float32Array), trainer };
}

describe('DataParallelTrainer', () => {
  const open: DataParallelTrainer<LinearTypes>[] = [];
  afterAll(async () => {
    await Promise.all(open.map((t) => t.dispose()));
  });

  it('two workers reproduce single-process training (equal shards), deterministically', async () => {
    const single = await run(1, 40);
    const first = await run(2, 40);
    const second = await run(2, 40);
    open.push(single.trainer, first.trainer, second.trainer);
    expect(first.trainer.workerCount).toBe(2);
    expect(first.losses.at(-1)!).toBeLessThan(first.losses[0]! / 10);
    // Same seed, same worker count: bit-identical trajectory and weights.
    expect(second.losses).toEqual(first.losses);
    expect(second.state).toEqual(first.state);
    // Mean of equal-size shard means = full-batch mean, up to float32 reduction order.
    for (let s = 0; s < 40; s++) {
      expect(Math.abs(first.losses[s]! - single.losses[s]!)).toBeLessThanOrEqual(1e-4 * Math.max(1, single.losses[s]!));
    }
    for (let v = 0; v < single.state.length; v++) {
      const a = single.state[v]!;
      const b = first.state[v]!;
      for (let i = 0; i < a.length; i++) expect(Math.abs(a[i]! - b[i]!)).toBeLessThan(1e-4);
    }
  });

  it('every replica receives the same combined statistics and holds the same weights', async () => {
    const trainer = await DataParallelTrainer.create<LinearTypes>({
      replicaModule,
      workers: 2,
      replicaOptions: { inputs, outputs, seed: 3 },
      combine: sumStats,
    });
    open.push(trainer);
    const [shards] = batches(1, 2);
    const result = await trainer.step(shards!);
    expect(result.combined.n).toBe(32);
    // Where the time went: per worker, and within the step (phases run one after another, workers side by side).
    const { totalMs, computeMs, packMs, averageMs, applyMs } = result.timing;
    for (const list of [computeMs, packMs, applyMs]) {
      expect(list).toHaveLength(2);
      for (const ms of list) expect(ms).toBeGreaterThanOrEqual(0);
    }
    expect(averageMs).toBeGreaterThanOrEqual(0);
    expect(Math.max(...computeMs.map((c, w) => c + packMs[w]!)) + averageMs + Math.max(...applyMs)).toBeLessThanOrEqual(totalMs);
    expect(await trainer.call('lastCombined')).toEqual(result.combined);
    const tensorsBefore = await trainer.call('numTensors');
    for (const step of batches(5, 2)) await trainer.step(step);
    expect(await trainer.call('numTensors')).toBe(tensorsBefore);
  });

  it('rejects the wrong number of shards and bad worker counts with clear errors', async () => {
    await expect(DataParallelTrainer.create({ replicaModule, workers: 0 })).rejects.toThrow(/workers must be a positive integer, got 0/);
    const trainer = await DataParallelTrainer.create<LinearTypes>({ replicaModule, workers: 1, replicaOptions: { inputs, outputs, seed: 1 }, combine: sumStats });
    open.push(trainer);
    await expect(trainer.step([])).rejects.toThrow(/needs one shard per worker \(1\), got 0/);
  });

  it('reports a replica module that cannot load', async () => {
    await expect(
      DataParallelTrainer.create({ replicaModule: new URL('./replicas/missing.ts', import.meta.url), workers: 2 }),
    ).rejects.toThrow(/worker failed to start/);
  });

  it('types statistics, combined statistics and calls end to end, and still serves untyped calls', async () => {
    const trainer = await DataParallelTrainer.create<LinearTypes>({ replicaModule, workers: 2, replicaOptions: { inputs, outputs, seed: 5 }, combine: sumStats });
    open.push(trainer);
    expectTypeOf(trainer.step).returns.resolves.toEqualTypeOf<{ readonly loss: number; readonly combined: SumStats; readonly timing: StepTiming }>();
    expectTypeOf(trainer.call<'predict'>).parameter(1).toEqualTypeOf<{ x: Float32Array; rows: number }>();
    expectTypeOf(trainer.call<'numTensors'>).returns.resolves.toEqualTypeOf<number>();
    // The replica's prediction equals x·W + b from the weights the trainer reports (float64 oracle).
    const x = Float32Array.from({ length: 2 * inputs }, seededNormal(9));
    const predicted = await trainer.call('predict', { x, rows: 2 });
    const state = await trainer.getState();
    const [weight, bias] = Object.values(state.arrays).map((a) => a.data as Float32Array);
    for (let r = 0; r < 2; r++) {
      for (let o = 0; o < outputs; o++) {
        let expected = bias![o]!;
        for (let i = 0; i < inputs; i++) expected += x[r * inputs + i]! * weight![i * outputs + o]!;
        // ≤ 8 float32 products and sums: a few ulps of values of order 1.
        expect(Math.abs(predicted[r * outputs + o]! - expected)).toBeLessThan(1e-5);
      }
    }
    const untyped = trainer as unknown as DataParallelTrainer;
    expect(await untyped.call('echo', { a: [1, 2] })).toEqual({ a: [1, 2] });
    await expect(untyped.call('nothing')).rejects.toThrow(/data-parallel worker 0: unknown method nothing/);
  });
});

describe('firstNonFinite (the replicas’ gradient check)', () => {
  it('finds the first NaN or ±Infinity wherever it lies, and passes every finite value', () => {
    const normal = seededNormal(11);
    const extremes = [0, -0, 3.4028234663852886e38, -3.4028234663852886e38, 1.401298464324817e-45];
    const values = Float32Array.from({ length: 4099 }, (_, i) => (i < extremes.length ? extremes[i]! : normal()));
    expect(firstNonFinite(values)).toBe(-1);
    for (const [bad, at] of [
      [Number.NaN, 0],
      [Number.POSITIVE_INFINITY, 4098],
      [Number.NEGATIVE_INFINITY, 1234],
    ] as const) {
      const copy = values.slice();
      copy[at] = bad;
      copy[4000] = Number.NaN; // a later one must not be the answer
      expect(firstNonFinite(copy), `${bad} at ${at}`).toBe(Math.min(at, 4000));
    }
  });
});
