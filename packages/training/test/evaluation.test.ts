import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { psnr } from '@gq/metrics';
import { ensureGradients, useBackend } from '@gq/runtime';
import { nodeFiles } from '@gq/runtime/files';
import { evaluate, resolveConfig, splitImages, toModelInput, trainRun, TrainedModel, type ImageSet } from '@gq/training';

beforeAll(async () => {
  await useBackend('wasm');
  await ensureGradients();
});

describe('evaluation scores what the tokenizer ships', () => {
  it('decode(GQ) is the decoder applied to codebook rows at the chosen indices; it differs from decode(μ)', async () => {
    // C = 4 channels as G = 2 tokens of m = 2 (the strided layout matters), K = 2^4 per token.
    const config = resolveConfig({
      model: { resolution: 16, ch: 32, chMult: [1, 2], numResBlocks: 1, attnResolutions: [], zChannels: 4, numGroups: 32 },
      bits: 8,
      dim: 2,
      batchSize: 8,
      steps: 30,
      testImages: 16,
      learningRate: 2e-3,
    });
    const dir = mkdtempSync(join(tmpdir(), 'gq-eval-'));
    const outcome = await trainRun(config, { files: nodeFiles, outDir: dir, workers: 1, backend: 'wasm', resume: false, checkpointEvery: 0, quiet: true });
    const model = await TrainedModel.fromTrainer(config, outcome.trainer);
    try {
      const evaluation = await evaluate(model, outcome.test, { chunk: 8 });
      const tokenizer = model.tokenizer!;
      const { values, dim } = tokenizer.codebook;
      let psnrSum = 0;
      for (let start = 0; start < outcome.test.count; start += 8) {
        const order = Array.from({ length: 8 }, (_, i) => start + i);
        const x = tf.tensor4d(toModelInput(outcome.test, order, 16, config.imageChannels), [8, 16, 16, config.imageChannels]);
        const tokens = await tokenizer.encode(x);
        const [b, h, w, groups] = tokens.shape;
        // The latent written from the definition: channel d·G + g of a position holds dimension d of token g's codeword.
        const latent = new Float32Array(b * h * w * groups * dim);
        for (let p = 0; p < b * h * w; p++) {
          for (let g = 0; g < groups; g++) {
            const index = tokens.indices[p * groups + g]!;
            for (let d = 0; d < dim; d++) latent[p * groups * dim + d * groups + g] = values[index * dim + d]!;
          }
        }
        const z = tf.tensor4d(latent, [b, h, w, groups * dim]);
        const decoded = model.decode(z);
        psnrSum += (await psnr(x, decoded)).mean * b;
        tf.dispose([x, z, decoded]);
      }
      expect(evaluation.quantized.psnr).toBeCloseTo(psnrSum / outcome.test.count, 9);
      // A trained model's quantised reconstruction is not its decode(μ): an evaluation that decoded μ would fail here.
      expect(Math.abs(evaluation.quantized.psnr - evaluation.mean!.psnr)).toBeGreaterThan(0.01);
      expect(evaluation.usage.tokens).toBe(16 * 8 * 8 * 2);
    } finally {
      model.dispose();
      await outcome.trainer.dispose();
    }
  }, 300_000);
});

describe('the held-out split', () => {
  it('puts every image in exactly one of train and test, the same way for the same seed', () => {
    // Each image carries its id in its first two pixels.
    const count = 1000;
    const pixels = new Uint8Array(count * 4);
    for (let i = 0; i < count; i++) {
      pixels[i * 4] = i >> 8;
      pixels[i * 4 + 1] = i & 255;
    }
    const set: ImageSet = { name: 'ids', count, height: 2, width: 2, channels: 1, pixels };
    const ids = (s: ImageSet) => Array.from({ length: s.count }, (_, i) => s.pixels[i * 4]! * 256 + s.pixels[i * 4 + 1]!);
    const { train, test } = splitImages(set, 100, 7);
    const trainIds = new Set(ids(train));
    const testIds = ids(test);
    expect(testIds).toHaveLength(100);
    expect(trainIds.size).toBe(900);
    expect(testIds.filter((id) => trainIds.has(id))).toEqual([]);
    expect(new Set([...trainIds, ...testIds]).size).toBe(count);
    expect(ids(splitImages(set, 100, 7).test)).toEqual(testIds);
    expect(ids(splitImages(set, 100, 8).test)).not.toEqual(testIds);
  });
});
