import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { seededNormal, setupBackend, tensorGrowth } from '@gq/test-utils';
import { LOG_VAR_MAX, LOG_VAR_MIN } from '@gq/core';
import { NnError, splitMoments } from '@gq/nn';

describe('@gq/nn splitMoments', () => {
  beforeAll(async () => {
    await setupBackend('cpu');
  });

  it('splits the last axis into μ (first C) and log σ² (last C), clamping log σ² to [−30, 20]', async () => {
    const [b, l, c] = [2, 3, 4];
    const next = seededNormal(5);
    // Scaled by 25 so some log-variances fall outside [−30, 20] and the clamp is exercised.
    const values = Float32Array.from({ length: b * l * 2 * c }, () => 25 * next());
    const moments = tf.tensor3d(values, [b, l, 2 * c]);
    const { mu, logVar } = splitMoments(moments, c);
    const raw = splitMoments(moments, c, { clampLogVar: false });
    expect(mu.shape).toEqual([b, l, c]);
    expect(logVar.shape).toEqual([b, l, c]);
    const muData = await mu.data();
    const logVarData = await logVar.data();
    const rawData = await raw.logVar.data();
    let clamped = 0;
    for (let p = 0; p < b * l; p++) {
      for (let k = 0; k < c; k++) {
        const v = values[p * 2 * c + c + k]!;
        expect(muData[p * c + k]).toBe(values[p * 2 * c + k]);
        expect(rawData[p * c + k]).toBe(v);
        expect(logVarData[p * c + k]).toBe(Math.min(LOG_VAR_MAX, Math.max(LOG_VAR_MIN, v)));
        if (v < LOG_VAR_MIN || v > LOG_VAR_MAX) clamped++;
      }
    }
    expect(clamped).toBeGreaterThan(0);
    tf.dispose([moments, mu, logVar, raw.mu, raw.logVar]);
  });

  it('rejects a last dimension other than 2C with NnError, creating no tensors', async () => {
    const moments = tf.zeros([1, 2, 2, 6]);
    const growth = await tensorGrowth(() => {
      expect(() => splitMoments(moments, 4)).toThrow(NnError);
      expect(() => splitMoments(moments, 4)).toThrow('splitMoments: moments must have last dimension 2·channels=8, got [1,2,2,6]');
      const { mu, logVar } = splitMoments(moments, 3);
      tf.dispose([mu, logVar]);
    });
    expect(growth).toBe(0);
    moments.dispose();
  });
});
