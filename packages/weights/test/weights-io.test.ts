import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { bitDifferences, readFixtureBytes, readFixtureJson, setupBackend, tensorGrowth, treeDifferences } from '@gq/test-utils';
import { CheckpointError } from '@gq/checkpoint';
import { gqErrorClass, isGqError, type GqError } from '@gq/core';
import { conv2dSpecs, initParams, linearSpecs, normSpecs, type ParamSpec } from '@gq/nn';
import { oihwToHwio } from '@gq/nn/internal';
import { parseSafetensors } from '@gq/safetensors';
import { WeightsError, exportParams, importCheckpointParams, importParams, modelWeights } from '@gq/weights';

/** Stands in for a model package's error class. */
const ModelError = gqErrorClass('ModelError', '@gq/model');

const specs: ParamSpec[] = [...conv2dSpecs('encoder.conv', 3, 4, 3), ...normSpecs('encoder.norm', 4), ...linearSpecs('decoder.fc', 4, 2)];

/** The vit-tiny fixture's state_dict as layout-free specs: enough to compare two readers of the same weights. */
function fixtureSpecs(): ParamSpec[] {
  const keys = readFixtureJson<{ keys: [string, number[]][] }>('vit-tiny', 'keys.json').keys;
  return keys.map(([name, torchShape]) => ({ name, torchShape, kind: 'plain', init: { kind: 'constant', value: 0 } }));
}

describe('@gq/weights import/export', () => {
  beforeAll(async () => {
    await setupBackend('cpu');
  });

  it('exportParams writes PyTorch layouts in spec order with format "pt"; importParams restores the tree bit-exactly', async () => {
    const params = initParams(specs, 3);
    const bytes = await exportParams(params, specs, { metadata: { note: 'x' } });
    const file = parseSafetensors(bytes);
    expect([...file.tensors.keys()]).toEqual(specs.map((s) => s.name));
    expect(file.metadata).toEqual({ note: 'x', format: 'pt' });
    const conv = file.tensors.get('encoder.conv.weight')!;
    expect(conv.shape).toEqual([4, 3, 3, 3]);
    // OIHW on disk, HWIO in the tree: the index formula is checked in params.test; here the mapping is applied back.
    const ours = (await params['encoder.conv.weight']!.data()) as Float32Array;
    expect(bitDifferences(oihwToHwio(conv.data as Float32Array, [4, 3, 3, 3]), ours)).toBe(0);
    const again = importParams(bytes, specs);
    expect(await treeDifferences(again, params)).toEqual([]);
    tf.dispose([...Object.values(params), ...Object.values(again)]);
  });

  it("errors carry the caller's function name and error class, and allocate nothing", async () => {
    const params = initParams(specs, 4);
    const partial = { ...params };
    delete partial['decoder.fc.bias'];
    const bytes = await exportParams(params, specs);
    const weights = new Map(parseSafetensors(bytes).tensors);
    weights.delete('encoder.norm.bias');
    weights.set('loss.scale', { dtype: 'F32', shape: [1], data: new Float32Array(1) });
    const caller = { fn: 'importWeights', errorClass: ModelError };
    const growth = await tensorGrowth(async () => {
      await expect(exportParams(partial, specs, {}, { fn: 'exportWeights', errorClass: ModelError })).rejects.toMatchObject({
        code: 'bad-params',
        message: expect.stringContaining('exportWeights: parameter tree must match the config, got 1 problem(s): decoder.fc.bias missing'),
      });
      expect(() => importParams(weights, specs, {}, caller)).toThrow(ModelError);
      expect(() => importParams(weights, specs, {}, caller)).toThrow(/^importWeights: weights must match the config's state_dict, got .*1 missing: encoder\.norm\.bias.*1 unexpected: loss\.scale/);
      expect(() => importParams(weights, specs)).toThrow(WeightsError);
      // An ignore rule turns the unexpected key into an accepted one; the missing key still fails.
      expect(() => importParams(weights, specs, { ignore: (name) => name.startsWith('loss.') }, caller)).toThrow(/1 missing: encoder\.norm\.bias$/);
    });
    expect(growth).toBe(0);
    tf.dispose(Object.values(params));
  });

  it('importCheckpointParams reads the Lightning-style fixture to the same tensors as its safetensors twin', async () => {
    const fixture = fixtureSpecs();
    const fromSafetensors = importParams(readFixtureBytes('vit-tiny', 'model.safetensors'), fixture);
    const fromCheckpoint = importCheckpointParams(readFixtureBytes('vit-tiny', 'model.ckpt'), fixture);
    expect(Object.keys(fromCheckpoint)).toHaveLength(fixture.length);
    expect(await treeDifferences(fromCheckpoint, fromSafetensors)).toEqual([]);
    tf.dispose([...Object.values(fromSafetensors), ...Object.values(fromCheckpoint)]);
    const bytes = readFixtureBytes('vit-tiny', 'model.ckpt');
    const growth = await tensorGrowth(() => {
      expect(() => importCheckpointParams(bytes.slice(0, bytes.length >> 1), fixture)).toThrow(CheckpointError);
      // Keeping only the encoder's specs makes every decoder key an unexpected one unless ignored by module.
      const encoderOnly = fixture.filter((s) => s.name.startsWith('encoder.'));
      expect(() => importCheckpointParams(bytes, encoderOnly, { ignore: () => false }, { fn: 'importCheckpoint', errorClass: ModelError })).toThrow(ModelError);
      tf.dispose(Object.values(importCheckpointParams(bytes, encoderOnly)));
    });
    expect(growth).toBe(0);
  });

  it('modelWeights validates the config under each public name and throws the model error class', async () => {
    const seen: string[] = [];
    const model = modelWeights<{ readonly width: number }>({
      validate(config, fn) {
        seen.push(fn);
        if (config.width !== 4) throw new ModelError('bad-config', `${fn}: width must be 4, got ${config.width}`);
      },
      specs: () => specs,
      errorClass: ModelError,
    });
    const params = initParams(specs, 5);
    const bytes = await model.exportWeights({ width: 4 }, params);
    const again = model.importWeights({ width: 4 }, bytes);
    expect(await treeDifferences(again, params)).toEqual([]);
    expect(seen).toEqual(['exportWeights', 'importWeights']);
    const growth = await tensorGrowth(async () => {
      await expect(model.exportWeights({ width: 3 }, params)).rejects.toThrow('exportWeights: width must be 4, got 3');
      expect(() => model.importCheckpoint({ width: 3 }, new Uint8Array(0))).toThrow('importCheckpoint: width must be 4, got 3');
      const { ['decoder.fc.bias']: _dropped, ...partial } = params;
      let caught: unknown;
      try {
        await model.exportWeights({ width: 4 }, partial);
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(ModelError);
      expect(isGqError(caught)).toBe(true);
      expect([(caught as GqError).source, (caught as GqError).code]).toEqual(['@gq/model', 'bad-params']);
    });
    expect(growth).toBe(0);
    tf.dispose([...Object.values(params), ...Object.values(again)]);
  });

  it('without a caller, errors are WeightsError from @gq/weights', () => {
    let caught: unknown;
    try {
      importParams(new Map(), specs);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(WeightsError);
    expect(isGqError(caught)).toBe(true);
    const error = caught as GqError;
    expect([error.name, error.source, error.code]).toEqual(['WeightsError', '@gq/weights', 'bad-weights']);
    expect(error.message).toMatch(/^importParams: weights must match the config's state_dict, got 6 missing: encoder\.conv\.weight, /);
  });
});
