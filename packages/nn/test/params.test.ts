import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { setupBackend, tensorGrowth } from '@gq/test-utils';
import { NnError, conv2dSpecs, countParameters, initParams, linearSpecs, normSpecs } from '@gq/nn';
import {
  formatWeightReport,
  hwioToOihw,
  internalShape,
  matchWeights,
  oihwToHwio,
  paramsToWeights,
  transposeMatrix,
  weightToFloat32,
  weightsToParams,
} from '@gq/nn/internal';

describe('@gq/nn parameters and layouts', () => {
  beforeAll(async () => {
    await setupBackend('cpu');
  });

  it('OIHW ↔ HWIO and [out,in] ↔ [in,out] move every element to its index formula and round-trip bit-exactly', () => {
    const [o, i, kh, kw] = [3, 2, 2, 3];
    const oihw = Float32Array.from({ length: o * i * kh * kw }, (_, n) => n + 0.5);
    const hwio = oihwToHwio(oihw, [o, i, kh, kw]);
    for (let a = 0; a < o; a++) for (let b = 0; b < i; b++) for (let y = 0; y < kh; y++) for (let x = 0; x < kw; x++) {
      expect(hwio[((y * kw + x) * i + b) * o + a]).toBe(oihw[((a * i + b) * kh + y) * kw + x]);
    }
    expect(Array.from(hwioToOihw(hwio, [kh, kw, i, o]))).toEqual(Array.from(oihw));
    const m = Float32Array.from({ length: 6 }, (_, n) => n);
    expect(Array.from(transposeMatrix(m, [2, 3]))).toEqual([0, 3, 1, 4, 2, 5]);
    expect(Array.from(transposeMatrix(transposeMatrix(m, [2, 3]), [3, 2]))).toEqual(Array.from(m));
    expect(() => oihwToHwio(oihw, [3, 2, 2])).toThrow(NnError);
  });

  it('initParams follows the specs in our layout; export restores PyTorch layout; counts add up', async () => {
    const specs = [...conv2dSpecs('conv', 3, 4, 3), ...normSpecs('norm', 4), ...linearSpecs('fc', 4, 2, { bias: false })];
    expect(countParameters(specs)).toBe(4 * 3 * 9 + 4 + 8 + 8);
    const growth = await tensorGrowth(async () => {
      const params = initParams(specs, 99);
      expect(params['conv.weight']!.shape).toEqual([3, 3, 3, 4]);
      expect(params['fc.weight']!.shape).toEqual([4, 2]);
      expect(countParameters(params)).toBe(countParameters(specs));
      const bound = 1 / Math.sqrt(27);
      expect(((await params['conv.weight']!.data()) as Float32Array).every((v) => Math.abs(v) <= bound)).toBe(true);
      const weights = await paramsToWeights(params, specs);
      expect(weights['conv.weight']!.shape).toEqual([4, 3, 3, 3]);
      const again = weightsToParams(new Map(Object.entries(weights)), specs);
      for (const spec of specs) {
        expect(Array.from((await again[spec.name]!.data()) as Float32Array)).toEqual(Array.from((await params[spec.name]!.data()) as Float32Array));
        expect(again[spec.name]!.shape).toEqual(internalShape(spec));
      }
      tf.dispose([...Object.values(params), ...Object.values(again)]);
    });
    expect(growth).toBe(0);
    expect(() => initParams(specs, -1)).toThrow(/seed must be an integer/);
  });

  it('matchWeights reports missing, unexpected and mis-shaped keys; half floats decode', () => {
    const specs = [...linearSpecs('a', 2, 3), ...normSpecs('n', 2)];
    const weights = new Map([
      ['a.weight', { dtype: 'F32', shape: [2, 3], data: new Float32Array(6) }],
      ['a.bias', { dtype: 'I64', shape: [3], data: new BigInt64Array(3) }],
      ['n.weight', { dtype: 'F32', shape: [2], data: new Float32Array(2) }],
      ['extra', { dtype: 'F32', shape: [1], data: new Float32Array(1) }],
      ['loss.w', { dtype: 'F32', shape: [1], data: new Float32Array(1) }],
    ]);
    const report = matchWeights(weights, specs, (name) => name.startsWith('loss.'));
    expect(report.missing).toEqual(['n.bias']);
    expect(report.unexpected).toEqual(['extra']);
    expect(report.mismatched).toEqual(['a.weight (shape [2,3], expected [3,2])', 'a.bias (dtype I64, expected a float type)']);
    expect(formatWeightReport(report)).toContain('1 missing: n.bias');
    expect(() => weightsToParams(weights, specs)).toThrow(NnError);
    // F16: 0x3C00 = 1, 0xC000 = −2, 0x0001 = 2^−24 (subnormal), 0x7C00 = ∞. BF16: 0x3F80 = 1, 0xC0490000>>>16 ≈ −3.140625.
    expect(Array.from(weightToFloat32({ dtype: 'F16', shape: [4], data: Uint16Array.from([0x3c00, 0xc000, 0x0001, 0x7c00]) }))).toEqual([1, -2, 2 ** -24, Infinity]);
    expect(Array.from(weightToFloat32({ dtype: 'BF16', shape: [2], data: Uint16Array.from([0x3f80, 0xc049]) }))).toEqual([1, -3.140625]);
    expect(Array.from(weightToFloat32({ dtype: 'F64', shape: [1], data: Float64Array.from([0.1]) }))).toEqual([Math.fround(0.1)]);
  });
});
