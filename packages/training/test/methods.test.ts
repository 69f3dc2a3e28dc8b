import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { Tokenizer } from '@gq/tokenizer';
import { ensureGradients, useBackend } from '@gq/runtime';
import { nodeFiles } from '@gq/runtime/files';
import { checkpointName, evaluateAndExport, rate, resolveConfig, toModelInput, trainRun, TrainError, type ConfigInput, type Method, type RunOptions, type TrainConfig } from '@gq/training';

beforeAll(async () => {
  // Single-worker runs train in this thread; evaluation always runs here.
  await useBackend('wasm');
  await ensureGradients();
});

/** A 16-px UNet with f = 2: an 8×8 latent grid, 64 positions per image. */
const tinyUnet: ConfigInput = {
  model: { resolution: 16, ch: 32, chMult: [1, 2], numResBlocks: 1, attnResolutions: [], zChannels: 4, numGroups: 32 },
  batchSize: 4,
  steps: 2,
  testImages: 4,
  learningRate: 2e-3,
};

/** A 16-px ViT with 4-px patches: a 4×4 token grid, 16 positions per image. */
const tinyVit: ConfigInput = {
  arch: 'vit',
  model: { imageSize: 16, patchSize: 4, width: 32, layers: 1, heads: 2, mlpRatio: 2, zChannels: 4, dimFfnOutput: 32 },
  batchSize: 4,
  steps: 2,
  testImages: 4,
  learningRate: 2e-3,
};

const quietRun = (outDir: string, options: Partial<RunOptions> = {}): RunOptions => ({
  files: nodeFiles,
  outDir,
  workers: 1,
  backend: 'wasm',
  resume: true,
  checkpointEvery: 0,
  quiet: true,
  ...options,
});

/** Train a fresh run in `dir`, evaluate and export it, and release the trainer. */
async function trainAndFinish(config: TrainConfig, dir: string) {
  const outcome = await trainRun(config, quietRun(dir, { resume: false }));
  try {
    return { outcome, exported: await evaluateAndExport(nodeFiles, config, outcome, dir, 'wasm') };
  } finally {
    await outcome.trainer.dispose();
  }
}

/** Drop variable names from state keys: names come from a process-wide counter, indices fix the order. */
function byIndex(arrays: Record<string, { data: ArrayLike<number> }>): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const [key, value] of Object.entries(arrays)) out[key.split(':').slice(0, 2).join(':')] = Array.from(value.data);
  return out;
}

describe('gq-train --bits mapping (docs/algorithms.md §6.6)', () => {
  // Rows of the §6.6 table at 8 bits per position on the cpu32 UNet (C = 4 by default, f = 4, 8×8 positions).
  const cases: [ConfigInput, number, number, number, number][] = [
    // input, C, m, log2 K (or B), exact bits per position
    [{ method: 'gq' }, 4, 4, 8, 8],
    [{ method: 'gq', dim: 2 }, 4, 2, 4, 8],
    [{ method: 'gq-vanilla' }, 4, 4, 8, 8],
    [{ method: 'vq' }, 4, 4, 8, 8],
    [{ method: 'vq', zChannels: 8, dim: 4 }, 8, 4, 4, 8],
    [{ method: 'fsq' }, 2, 2, 8, 8],
    [{ method: 'fsq', fsqLevels: 'paper' }, 3, 3, Math.log2(240), Math.log2(240)],
    [{ method: 'lfq' }, 8, 8, 8, 8],
    [{ method: 'bsq' }, 8, 8, 8, 8],
    [{ method: 'tokenbridge' }, 4, 1, 2, 8],
    [{ method: 'tokenbridge', tbBits: 1 }, 8, 1, 1, 8],
    [{ method: 'tokenbridge-tdc', tbBits: 4 }, 2, 1, 4, 8],
  ];
  it.each(cases)('%j → C=%i, m=%i, log2K/B=%f, bits/pos=%f', (input, channels, dim, codebookBits, perPosition) => {
    const config = resolveConfig({ bits: 8, ...input });
    expect(config.model.zChannels).toBe(channels);
    expect(config.dim).toBe(dim);
    expect(config.codebookBits).toBeCloseTo(codebookBits, 12);
    const r = rate(config);
    expect(r.bitsPerPosition).toBeCloseTo(perPosition, 12);
    expect(r.bitsPerImage).toBeCloseTo(64 * perPosition, 9);
    expect(r.bpp).toBeCloseTo((64 * perPosition) / (32 * 32), 12);
  });

  it('maps FSQ levels to exact bits and 16 bits per position as the comparison runs', () => {
    expect(resolveConfig({ method: 'fsq', bits: 16 }).levels).toEqual([16, 16, 16, 16]);
    expect(resolveConfig({ method: 'fsq', bits: 6 }).levels).toEqual([16, 4]);
    expect(resolveConfig({ method: 'fsq', bits: 16, fsqLevels: 'paper' }).levels).toEqual([8, 8, 8, 5, 5, 5]);
    expect(rate(resolveConfig({ method: 'fsq', bits: 16, fsqLevels: 'paper' })).bitsPerPosition).toBeCloseTo(Math.log2(64000), 12);
  });

  it('ViT presets: the patch grid sets the positions (cpu32: 8×8 patches of 4 px)', () => {
    const config = resolveConfig({ arch: 'vit', method: 'gq', bits: 8 });
    expect(config.imageSize).toBe(32);
    expect(config.imageChannels).toBe(3);
    expect(rate(config)).toMatchObject({ positions: 64, tokensPerImage: 64, bitsPerImage: 512, bpp: 0.5 });
  });

  it('rejects bits a method cannot represent, unknown arch/preset and stray model keys', () => {
    const fails = (input: ConfigInput, message: RegExp): void => {
      let error: unknown;
      try {
        resolveConfig(input);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(TrainError);
      expect((error as TrainError).code).toBe('bad-option');
      expect((error as Error).message).toMatch(message);
    };
    fails({ method: 'gq', bits: 7, dim: 2 }, /--bits \(7 per position\) must be a multiple of the tokens per position G = C\/m = 4\/2 = 2/);
    fails({ method: 'vq', bits: 20 }, /vq: log2 K = bits\/G = 20\/1 = 20 bits per token exceeds 16/);
    fails({ method: 'bsq', bits: 1 }, /bsq needs at least 2 bits per position/);
    fails({ method: 'lfq', bits: 8, zChannels: 4 }, /--z-channels 4 contradicts lfq at 8 bits per position: one bit per channel needs C = 8/);
    fails({ method: 'fsq', bits: 16, fsqLevels: [8, 8] }, /--fsq-levels \[8,8\] give 6.00 bits per position, more than 0.5 from --bits 16/);
    fails({ method: 'fsq', bits: 9, fsqLevels: 'paper' }, /--fsq-levels paper exists for 8, 10, 12, 14, 16 bits per position, got --bits 9/);
    fails({ method: 'tokenbridge', bits: 6 }, /--bits \(6 per position\) must be a multiple of the latent channels C = 4/);
    fails({ method: 'tokenbridge', bits: 8, tbBits: 3 }, /--bits \(8 per position\) must be a multiple of --tb-bits \(3\)/);
    fails({ method: 'tokenbridge-tdc', bits: 52 }, /tokenbridge: B = bits\/C = 13 bits per channel exceeds 12/);
    fails({ arch: 'transformer' }, /--arch must be one of unet, vit, got 'transformer'/);
    fails({ arch: 'vit', preset: 'huge' }, /--preset must be one of .*cpu32.* for --arch vit, got 'huge'/);
    fails({ arch: 'vit', model: { ch: 64 } as NonNullable<ConfigInput['model']> }, /model overrides must be vit config keys .*, got ch/);
    fails({ arch: 'vit', model: { imageSize: 30 } }, /the vit model config is not usable: .*imageSize must be divisible by patchSize=4/);
  });
});

describe('gq-train methods: 2 steps, evaluation, outputs', () => {
  // Expected index slots per position G and values per slot for each method at 8 bits per position
  // on the tiny UNet (C = 4 unless the method fixes C).
  // `artifact`: a GQ tokenizer artifact is exported (and evaluation goes through it).
  const expected: Record<Method, { slots: number; size: number; gaussian: boolean; artifact: boolean }> = {
    gq: { slots: 1, size: 256, gaussian: true, artifact: true },
    'gq-global': { slots: 1, size: 256, gaussian: true, artifact: true },
    'gq-vanilla': { slots: 1, size: 256, gaussian: true, artifact: true },
    vq: { slots: 1, size: 256, gaussian: false, artifact: false },
    fsq: { slots: 1, size: 256, gaussian: false, artifact: false },
    lfq: { slots: 1, size: 256, gaussian: false, artifact: false },
    bsq: { slots: 1, size: 256, gaussian: false, artifact: false },
    tokenbridge: { slots: 4, size: 4, gaussian: true, artifact: false },
    'tokenbridge-tdc': { slots: 4, size: 4, gaussian: true, artifact: false },
    'tokenbridge-global': { slots: 4, size: 4, gaussian: true, artifact: false },
  };
  it.each(Object.keys(expected) as Method[])('%s trains 2 steps and evaluates with finite scores at 8 bits per position', async (method) => {
    const dir = mkdtempSync(join(tmpdir(), `gq-${method}-`));
    const config = resolveConfig({ ...tinyUnet, method, bits: 8 });
    const before = tf.memory().numTensors;
    const { outcome, exported } = await trainAndFinish(config, dir);
    expect(tf.memory().numTensors).toBe(before);
    const { evaluation, artifact } = exported;
    const want = expected[method];
    expect(outcome.losses).toHaveLength(2);
    for (const loss of outcome.losses) expect(Number.isFinite(loss)).toBe(true);
    expect(evaluation.images).toBe(4);
    expect(evaluation.rate.bitsPerPosition).toBe(8);
    expect(evaluation.rate.bitsPerImage).toBe(8 * 64);
    expect(evaluation.rate.bpp).toBe((8 * 64) / 256);
    // Every index of every position and slot is counted once: images × 8×8 positions × G.
    expect(evaluation.usage.tokens).toBe(4 * 64 * want.slots);
    expect(evaluation.usage.codebookSize).toBe(want.size);
    expect(evaluation.usage.used).toBeGreaterThanOrEqual(1);
    expect(evaluation.usage.used).toBeLessThanOrEqual(Math.min(want.size, evaluation.usage.tokens));
    expect(evaluation.usage.perplexity).toBeGreaterThanOrEqual(1);
    expect(evaluation.usage.perplexity).toBeLessThanOrEqual(evaluation.usage.used * (1 + 1e-12));
    // Untrained-ish outputs of [-1, 1] images: PSNR must be a finite number of dB in a sane range.
    const scored = [evaluation.quantized, ...(want.gaussian ? [evaluation.mean!, evaluation.sample!] : [])];
    for (const scores of scored) {
      expect(scores.psnr).toBeGreaterThan(0);
      expect(scores.psnr).toBeLessThan(60);
      expect(Math.abs(scores.ssim)).toBeLessThanOrEqual(1);
    }
    expect(evaluation.mean !== undefined).toBe(want.gaussian);
    expect(evaluation.bits !== undefined).toBe(want.gaussian);
    if (want.gaussian) {
      // Per-token KL rates: tokens of m channels (m = 1 for TokenBridge), G tokens per position.
      expect(evaluation.bits!.count).toBe(4 * 64 * want.slots);
      expect(evaluation.bits!.min).toBeGreaterThanOrEqual(0);
    }
    const summary = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')) as {
      rate: { bitsPerImage: number; bpp: number };
      artifact: string | null;
    };
    expect(summary.rate).toMatchObject({ bitsPerImage: 512, bpp: 2 });
    expect(existsSync(join(dir, 'grid.png'))).toBe(true);
    const isGq = want.artifact;
    expect(artifact !== undefined).toBe(isGq);
    expect(existsSync(join(dir, 'tokenizer.gqtok'))).toBe(isGq);
    expect(summary.artifact).toBe(isGq ? 'tokenizer.gqtok' : null);
    const metrics = readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(metrics.map((m) => m.step)).toEqual([1, 2]);
    expect('bits' in metrics[0]!).toBe(want.gaussian);
    expect('quantizer' in metrics[0]!).toBe(!want.gaussian);
  }, 120_000);
});

describe('gq-train ViT', () => {
  it('trains a ViT, exports a tokenizer artifact that loads and encodes to the patch grid', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gq-vit-'));
    const config = resolveConfig({ ...tinyVit, bits: 4 });
    const { outcome, exported } = await trainAndFinish(config, dir);
    const { evaluation, artifact } = exported;
    expect(evaluation.rate).toMatchObject({ positions: 16, bitsPerImage: 64, bpp: 0.25 });
    expect(evaluation.usage.tokens).toBe(4 * 16);
    const tokenizer = await Tokenizer.load(new Uint8Array(readFileSync(artifact!.container)));
    try {
      expect(tokenizer.arch).toBe('vit');
      expect(tokenizer.artifactId).toBe(artifact!.artifactId);
      const images = tf.tensor4d(toModelInput(outcome.test, [0, 1], 16, 3), [2, 16, 16, 3]);
      const tokens = await tokenizer.encode(images);
      expect(tokens.shape).toEqual([2, 4, 4, 1]);
      expect(tokens.bitsPerToken).toBe(4);
      const decoded = await tokenizer.decode(tokens);
      expect(decoded.shape).toEqual([2, 16, 16, 3]);
      tf.dispose([images, decoded]);
    } finally {
      tokenizer.dispose();
    }
  }, 120_000);
});

describe('gq-train exact resume', () => {
  async function resumeMatches(input: ConfigInput, workers: number): Promise<Record<string, { shape: readonly number[] }>> {
    const config = resolveConfig({ ...input, steps: 4 });
    const runTo = async (dir: string, stopAfter?: number) => {
      const outcome = await trainRun(config, quietRun(dir, { workers, ...(stopAfter !== undefined ? { stopAfter } : {}) }));
      const state = await outcome.trainer.getState();
      await outcome.trainer.dispose();
      return { outcome, state };
    };
    const straight = await runTo(mkdtempSync(join(tmpdir(), 'gq-straight-')));
    const dir = mkdtempSync(join(tmpdir(), 'gq-resume-'));
    const first = await runTo(dir, 2);
    expect(first.outcome.step).toBe(2);
    expect(existsSync(join(dir, checkpointName))).toBe(true);
    const second = await runTo(dir);
    expect(second.outcome.step).toBe(4);
    expect([...first.outcome.losses, ...second.outcome.losses]).toEqual(straight.outcome.losses);
    expect(byIndex(second.state.arrays)).toEqual(byIndex(straight.state.arrays));
    expect(second.state.json).toEqual(straight.state.json);
    return straight.state.arrays;
  }

  it('vq: weights, the learned codebook and its Adam slots resume bit for bit', async () => {
    const arrays = await resumeMatches({ ...tinyUnet, method: 'vq', bits: 8 }, 1);
    // The codebook [K, m] = [256, 4] is the last checkpointed trainable variable, and Adam holds slots for it.
    const shapes = Object.entries(arrays).filter(([k]) => k.startsWith('variable:')).map(([, v]) => v.shape.join('x'));
    expect(shapes.at(-1)).toBe('256x4');
    expect(Object.values(arrays).filter((v) => v.shape.join('x') === '256x4')).toHaveLength(3);
  }, 180_000);

  it('vit with TDC: losses, weights, Adam and TDC state resume bit for bit', async () => {
    // One worker keeps this test short; the two-worker path is covered by the UNet resume test.
    await resumeMatches({ ...tinyVit, method: 'gq', bits: 4 }, 1);
  }, 180_000);
});
