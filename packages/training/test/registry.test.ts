import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '@gq/runtime';
import { isGqError } from '@gq/core';
import { methodRegistry, methodSpec, methods, rate, rateControlLabel, resolveConfig, type Method, type MethodSpec } from '@gq/training';

beforeAll(async () => {
  await useBackend('cpu');
});

describe('method registry', () => {
  it('lists every method once, in registry order, each record named by its key', () => {
    expect(methods).toEqual(['gq', 'gq-global', 'gq-vanilla', 'vq', 'fsq', 'lfq', 'bsq', 'tokenbridge', 'tokenbridge-tdc', 'tokenbridge-global']);
    for (const method of methods) expect(methodSpec(method).name).toBe(method);
  });

  it('refuses an unknown method with a bad-option error that lists the known ones', () => {
    let caught: unknown;
    try {
      methodSpec('vqgan');
    } catch (error) {
      caught = error;
    }
    expect(isGqError(caught)).toBe(true);
    expect((caught as { code: string }).code).toBe('bad-option');
    expect((caught as Error).message).toBe(`--method must be one of ${methods.join(', ')}, got 'vqgan'`);
    // Object prototype keys are not methods.
    expect(() => methodSpec('toString')).toThrow(/--method must be one of/);
  });

  // What each record must say, stated independently of the registry (docs/algorithms.md §6 and §4).
  const facts: Record<Method, { gaussian: boolean; rate: 'TDC' | 'global λ' | 'vanilla KL' | 'none'; throughQuantizer: boolean; artifact: boolean }> = {
    gq: { gaussian: true, rate: 'TDC', throughQuantizer: false, artifact: true },
    'gq-global': { gaussian: true, rate: 'global λ', throughQuantizer: false, artifact: true },
    'gq-vanilla': { gaussian: true, rate: 'vanilla KL', throughQuantizer: false, artifact: true },
    vq: { gaussian: false, rate: 'none', throughQuantizer: true, artifact: false },
    fsq: { gaussian: false, rate: 'none', throughQuantizer: true, artifact: false },
    lfq: { gaussian: false, rate: 'none', throughQuantizer: true, artifact: false },
    bsq: { gaussian: false, rate: 'none', throughQuantizer: true, artifact: false },
    tokenbridge: { gaussian: true, rate: 'vanilla KL', throughQuantizer: false, artifact: false },
    'tokenbridge-tdc': { gaussian: true, rate: 'TDC', throughQuantizer: false, artifact: false },
    'tokenbridge-global': { gaussian: true, rate: 'global λ', throughQuantizer: false, artifact: false },
  };
  it.each(methods)('%s: Gaussian, rate control, training path and artifact as the paper defines them', (method) => {
    const spec: MethodSpec = methodRegistry[method];
    const want = facts[method];
    expect(spec.gaussian).toBe(want.gaussian);
    expect(rateControlLabel(spec)).toBe(want.rate);
    expect(spec.trainsThroughQuantizer).toBe(want.throughQuantizer);
    expect(spec.exportsArtifact).toBe(want.artifact);
    // Gaussian methods need a rate term; baselines have none and train through their quantiser.
    expect(spec.rateControl !== undefined).toBe(spec.gaussian);
    expect(spec.label.length).toBeGreaterThan(10);
  });

  it.each(methods)("%s: its quantiser's rate equals the configuration's bits per position", (method) => {
    const config = resolveConfig({ method, bits: 8 });
    const quantizer = methodSpec(method).createQuantizer(config);
    try {
      expect(quantizer.bitsPerPosition).toBeCloseTo(rate(config).bitsPerPosition, 12);
      expect(quantizer.tokensPerPosition).toBe(methodSpec(method).tokensPerPosition(config));
      expect(quantizer.channels).toBe(config.model.zChannels);
    } finally {
      quantizer.dispose();
    }
  });

  it('TDC targets T = log2 K per token for gq and B per channel for tokenbridge-tdc, with γ and α from the config', () => {
    const gq = resolveConfig({ method: 'gq', bits: 8, dim: 2, tdcFactor: 1.05, tdcBand: 0.25 });
    const tdc = methodRegistry.gq.rateControl.create(gq);
    expect(tdc.state.targetBits).toBe(4);
    expect(tdc.state.factor).toBe(1.05);
    expect(tdc.state.tolerance).toBe(0.25);
    expect(tdc.state.mode).toBe('tdc');
    expect(methodRegistry['gq-global'].rateControl.create(gq).state.mode).toBe('globalOnly');
    expect(methodRegistry['tokenbridge-global'].rateControl.create(resolveConfig({ method: 'tokenbridge-global', bits: 8 })).state.mode).toBe('globalOnly');
    // The reference's γ and α unless asked otherwise.
    expect(resolveConfig({}).tdcFactor).toBe(1.01);
    expect(resolveConfig({}).tdcBand).toBe(0.5);
    expect(() => resolveConfig({ tdcFactor: 1 })).toThrow(/--tdc-factor must be in \(1, 2\], got 1/);
    const tb = resolveConfig({ method: 'tokenbridge-tdc', bits: 8, tbBits: 2 });
    expect(methodRegistry['tokenbridge-tdc'].rateControl.create(tb).state.targetBits).toBe(2);
  });
});
