import { afterAll, describe, expect, it } from 'vitest';
import { isGqError } from '@gq/core';
import { WorkerPool } from '@gq/runtime/parallel';
import { seededNormal } from '@gq/test-utils';
import type { ArithCalls } from './workers/arith.js';

const module = new URL('./workers/arith.ts', import.meta.url);

describe('WorkerPool', () => {
  const open: WorkerPool<ArithCalls>[] = [];
  afterAll(async () => {
    await Promise.all(open.map((pool) => pool.close()));
  });

  it('gives every worker its index and the options, and answers typed requests', async () => {
    const pool = await WorkerPool.create<ArithCalls>({ module, workers: 3, options: { tag: 'abc' } });
    open.push(pool);
    expect(pool.size).toBe(3);
    expect(await pool.broadcast('whoami')).toEqual([0, 1, 2].map((workerIndex) => ({ workerIndex, workerCount: 3, tag: 'abc' })));
    // Law: the sums of the parts add up to the sum of the whole (integers, so exact in float64).
    const values = Float64Array.from({ length: 999 }, (_, i) => (i * 7919) % 1000);
    const whole = values.reduce((a, b) => a + b, 0);
    const parts = [values.subarray(0, 333), values.subarray(333, 666), values.subarray(666)];
    const sums = await Promise.all(parts.map((part, i) => pool.request(i, 'sum', part)));
    expect(sums.reduce((a, b) => a + b, 0)).toBe(whole);
  });

  it('moves transferred buffers both ways and keeps the values', async () => {
    const pool = await WorkerPool.create<ArithCalls>({ module, workers: 1, options: { tag: 't' } });
    open.push(pool);
    const normal = seededNormal(11);
    const data = Float32Array.from({ length: 64 }, normal);
    const expected = data.map((v) => v * 0.5);
    const out = await pool.request(0, 'scale', { data, factor: 0.5 }, [data.buffer]);
    // A transferred buffer is detached in the sender.
    expect(data.byteLength).toBe(0);
    // Halving is exact in float32, so the worker's result equals the local one bit for bit.
    expect(out).toEqual(expected);
  });

  it('rejects a failing request with the worker message, keeping a GQ error code, and keeps serving', async () => {
    const pool = await WorkerPool.create<ArithCalls>({ module, workers: 2, options: { tag: 'e' } });
    open.push(pool);
    const gq = await pool.request(1, 'fail', { gq: true }).catch((error: unknown) => error);
    expect(isGqError(gq)).toBe(true);
    expect((gq as { code: string }).code).toBe('test-failure');
    expect((gq as Error).message).toBe('worker pool worker 1: fail: asked to fail with a GQ error');
    const plain = await pool.request(0, 'fail', { gq: false }).catch((error: unknown) => error);
    expect((plain as { code: string }).code).toBe('worker-error');
    expect(((plain as Error).cause as Error).name).toBe('TypeError');
    expect(await pool.request(0, 'sum', Float64Array.of(1, 2, 3))).toBe(6);
    await expect(pool.request(2, 'sum', Float64Array.of(1))).rejects.toThrow(/worker must be an integer in \[0, 2\), got 2/);
    await expect(pool.request(0, 'missing' as 'sum', Float64Array.of(1))).rejects.toThrow(/no handler for 'missing'/);
  });

  it('fails to start, naming the worker, when one createWorker throws, and rejects requests after close', async () => {
    await expect(WorkerPool.create<ArithCalls>({ module, workers: 2, options: { tag: 'x', failAt: 1 } })).rejects.toThrow(
      /worker pool worker failed to start \(worker 1\): worker 1 refuses to start/,
    );
    await expect(WorkerPool.create<ArithCalls>({ module, workers: 0 })).rejects.toThrow(/workers must be a positive integer, got 0/);
    const pool = await WorkerPool.create<ArithCalls>({ module, workers: 1, options: { tag: 'c' } });
    await pool.close();
    await pool.close();
    await expect(pool.request(0, 'sum', Float64Array.of(1))).rejects.toThrow(/the pool is closed/);
  });
});
