import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { leakedTensors, useCpu } from './setup.js';
import { CoreError, createRng, isGqError, isLatentLayout, latentRowsToTokens, latentToTokens, tokensPerPosition, tokensToLatent, tokensToLatentRows, type LatentLayout } from '@gq/core';

beforeAll(async () => {
  await useCpu();
});

/** The channel of token g, dimension d, written straight from the definitions (docs/algorithms.md §3.6). */
const channelOf = (layout: LatentLayout, g: number, d: number, groups: number, dim: number): number =>
  layout === 'strided' ? d * groups + g : g * dim + d;

describe('latent token layouts', () => {
  it('strided puts token g, dimension d in channel d·G + g; contiguous in g·m + d', async () => {
    // One position, G = 3 tokens of m = 2: channel c holds value c.
    const latent = tf.tensor3d([[[0, 1, 2, 3, 4, 5]]]);
    const strided = latentToTokens(latent, { dim: 2, layout: 'strided' });
    const contiguous = latentToTokens(latent, { dim: 2, layout: 'contiguous' });
    expect(Array.from(await strided.data())).toEqual([0, 3, 1, 4, 2, 5]);
    expect(Array.from(await contiguous.data())).toEqual([0, 1, 2, 3, 4, 5]);
    expect(Array.from(latentRowsToTokens(new Float32Array([0, 1, 2, 3, 4, 5]), 6, { dim: 2 }))).toEqual([0, 3, 1, 4, 2, 5]);
    const back = tokensToLatent(strided, [1, 1, 6], { dim: 2 });
    expect(Array.from(await back.data())).toEqual([0, 1, 2, 3, 4, 5]);
    expect(Array.from(tokensToLatentRows(new Float32Array([0, 3, 1, 4, 2, 5]), 6, { dim: 2 }))).toEqual([0, 1, 2, 3, 4, 5]);
    tf.dispose([latent, strided, contiguous, back]);
  });

  it('tensor and typed-array versions agree with the index formula and invert each other', async () => {
    const shape = [2, 3, 5, 12];
    const normal = createRng(3).normal;
    const values = Float32Array.from({ length: 2 * 3 * 5 * 12 }, () => normal());
    const latent = tf.tensor(values, shape);
    for (const layout of ['strided', 'contiguous'] as const) {
      for (const dim of [1, 3, 4, 12]) {
        const groups = 12 / dim;
        const expected = new Float32Array(values.length);
        for (let p = 0; p < values.length / 12; p++) {
          for (let g = 0; g < groups; g++) {
            for (let d = 0; d < dim; d++) expected[(p * groups + g) * dim + d] = values[p * 12 + channelOf(layout, g, d, groups, dim)]!;
          }
        }
        const rows = latentRowsToTokens(values, 12, { dim, layout });
        expect(Array.from(rows)).toEqual(Array.from(expected));
        const tokens = latentToTokens(latent, { dim, layout });
        expect(tokens.shape).toEqual([(values.length / 12) * groups, dim]);
        expect(Array.from(await tokens.data())).toEqual(Array.from(expected));
        expect(Array.from(tokensToLatentRows(rows, 12, { dim, layout }))).toEqual(Array.from(values));
        const back = tokensToLatent(tokens, shape, { dim, layout });
        expect(Array.from(await back.data())).toEqual(Array.from(values));
        tf.dispose([tokens, back]);
      }
    }
    latent.dispose();
  });

  it('tokensPerPosition is C / m and isLatentLayout accepts exactly the two layouts', () => {
    expect(tokensPerPosition('f', 12, 4)).toBe(3);
    expect(isLatentLayout('strided')).toBe(true);
    expect(isLatentLayout('contiguous')).toBe(true);
    expect(isLatentLayout('Strided')).toBe(false);
    expect(isLatentLayout(undefined)).toBe(false);
  });

  it('rejects bad input with CoreError, naming the function and what was seen', () => {
    const latent = tf.zeros([1, 2, 6]);
    const check = (run: () => unknown, code: string, message: string | RegExp): void => {
      let caught: unknown;
      try {
        run();
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(CoreError);
      expect(isGqError(caught)).toBe(true);
      expect(caught).toMatchObject({ code, source: '@gq/core', name: 'CoreError' });
      expect((caught as Error).message).toMatch(message);
    };
    check(() => tokensPerPosition('gqQuantize', 10, 4), 'shape-mismatch', 'gqQuantize: latent last dimension must be divisible by dim=4, got 10');
    check(() => tokensPerPosition('f', 8, 0), 'bad-dim', 'f: dim must be a positive integer, got 0');
    check(() => latentToTokens(latent, { dim: 4 }), 'shape-mismatch', /divisible by dim=4, got 6/);
    check(() => latentToTokens(latent, { dim: 2, layout: 'rows' as never }), 'bad-layout', `latentToTokens: layout must be 'strided' or 'contiguous', got "rows"`);
    check(() => latentToTokens(tf.zeros([6]), { dim: 2 }), 'bad-rank', 'latentToTokens: latent must have rank ≥ 2, got shape [6]');
    check(() => tokensToLatent(tf.zeros([5, 2]), [1, 2, 6], { dim: 2 }), 'shape-mismatch', 'tokensToLatent: tokens must have shape [6, 2] for latent [1,2,6], got [5,2]');
    check(() => latentRowsToTokens(new Float32Array(7), 6, { dim: 2 }), 'shape-mismatch', 'latentRowsToTokens: length 7 is not a multiple of channels=6');
    check(() => tokensToLatentRows(new Float32Array(6), 6, { dim: 2, layout: 'x' as never }), 'bad-layout', /tokensToLatentRows: layout/);
    latent.dispose();
  });

  it('leaves no tensors behind, on success or failure', async () => {
    const latent = tf.ones([2, 4, 6]);
    const growth = await leakedTensors(() => {
      for (const layout of ['strided', 'contiguous'] as const) {
        const tokens = latentToTokens(latent, { dim: 2, layout });
        tf.dispose([tokens, tokensToLatent(tokens, latent.shape, { dim: 2, layout })]);
      }
      expect(() => latentToTokens(latent, { dim: 4 })).toThrow(CoreError);
      expect(() => tokensToLatent(latent, [2, 4, 6], { dim: 2 })).toThrow(CoreError);
    });
    expect(growth).toBe(0);
    latent.dispose();
  });
});
