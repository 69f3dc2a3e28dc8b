import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { nodeFiles } from '@gq/runtime/files';
import { checkpointName, loadCheckpoint, resolveConfig, trainRun, TrainError, type ConfigInput, type RunOptions } from '@gq/training';

const tiny: ConfigInput = {
  model: { resolution: 16, ch: 32, chMult: [1, 2], numResBlocks: 1, attnResolutions: [], zChannels: 4, numGroups: 32 },
  bits: 4,
  dim: 4,
  batchSize: 4,
  steps: 4,
  testImages: 8,
  learningRate: 2e-3,
};

async function run(outDir: string, options: Partial<RunOptions> = {}) {
  const outcome = await trainRun(resolveConfig(tiny), {
    files: nodeFiles,
    outDir,
    workers: 2,
    backend: 'wasm',
    resume: true,
    checkpointEvery: 0,
    quiet: true,
    ...options,
  });
  const state = await outcome.trainer.getState();
  await outcome.trainer.dispose();
  return { outcome, state };
}

describe('gq-train', () => {
  it('resumed training equals uninterrupted training: same losses, weights, Adam and TDC state', async () => {
    const straight = await run(mkdtempSync(join(tmpdir(), 'gq-straight-')));
    const dir = mkdtempSync(join(tmpdir(), 'gq-resume-'));
    const first = await run(dir, { stopAfter: 2 });
    expect(first.outcome.step).toBe(2);
    const second = await run(dir);
    expect(second.outcome.step).toBe(4);
    expect([...first.outcome.losses, ...second.outcome.losses]).toEqual(straight.outcome.losses);
    expect(Object.keys(second.state.arrays)).toEqual(Object.keys(straight.state.arrays));
    for (const [name, array] of Object.entries(straight.state.arrays)) {
      expect(Array.from(second.state.arrays[name]!.data), name).toEqual(Array.from(array.data));
    }
    expect(second.state.json).toEqual(straight.state.json);
    const metrics = readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { step: number });
    expect(metrics.map((m) => m.step)).toEqual([1, 2, 3, 4]);
    const saved = loadCheckpoint(nodeFiles, join(dir, checkpointName));
    expect(saved.step).toBe(4);
  }, 300_000);

  it('continues a finished run with more --steps, and refuses any other configuration change', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gq-extend-'));
    const base = { files: nodeFiles, outDir: dir, workers: 1, backend: 'wasm' as const, resume: true, checkpointEvery: 0, quiet: true };
    const first = await trainRun(resolveConfig({ ...tiny, steps: 2 }), base);
    await first.trainer.dispose();
    const more = await trainRun(resolveConfig({ ...tiny, steps: 3 }), base);
    await more.trainer.dispose();
    expect([first.step, more.step, more.losses.length]).toEqual([2, 3, 1]);
    await expect(trainRun(resolveConfig({ ...tiny, steps: 4, learningRate: 1e-2 }), base)).rejects.toThrow(
      /different configuration \(learningRate differ\); only --steps may change/,
    );
    // Loading the finished run trains nothing and leaves its checkpoint byte for byte; fewer steps are refused.
    const path = join(dir, checkpointName);
    const before = readFileSync(path);
    const loaded = await trainRun(resolveConfig({ ...tiny, steps: 3 }), base);
    await loaded.trainer.dispose();
    expect([loaded.step, loaded.losses.length]).toEqual([3, 0]);
    expect(readFileSync(path).equals(before)).toBe(true);
    const fewer = await trainRun(resolveConfig({ ...tiny, steps: 2 }), base).catch((e: unknown) => e);
    expect(fewer).toBeInstanceOf(TrainError);
    expect((fewer as TrainError).code).toBe('resume-ahead');
    expect((fewer as Error).message).toMatch(/cannot resume .*checkpoint\.safetensors for 2 steps: it is at step 3 already; pass --steps 3 or more, or another --out/);
    expect(readFileSync(path).equals(before)).toBe(true);
  });

  it('rejects a corrupt checkpoint on resume and keeps the file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gq-corrupt-'));
    const path = join(dir, checkpointName);
    writeFileSync(path, new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9]));
    await expect(run(dir)).rejects.toThrow(/checkpoint .* is corrupt or not a gq-train checkpoint/);
    expect(existsSync(path)).toBe(true);
    expect(readFileSync(path).length).toBe(9);
  });

  it('validates options with clear messages', () => {
    expect(() => resolveConfig({ method: 'magic' })).toThrow(
      /--method must be one of gq, gq-global, gq-vanilla, vq, fsq, lfq, bsq, tokenbridge, tokenbridge-tdc, tokenbridge-global, got 'magic'/,
    );
    expect(() => resolveConfig({ preset: 'huge' })).toThrow(/--preset must be one of .*cpu32.* for --arch unet, got 'huge'/);
    expect(() => resolveConfig({ bits: 0 })).toThrow(/--bits must be an integer in \[1, 64\], got 0/);
    expect(() => resolveConfig({ bits: 65 })).toThrow(TrainError);
    // 40 bits per position in one token of the cpu32 UNet's C = 4 channels is K = 2^40 codewords.
    expect(() => resolveConfig({ bits: 40 })).toThrow(/log2 K = bits\/G = 40\/1 = 40 bits per token exceeds 24/);
    expect(() => resolveConfig({ dim: 3 })).toThrow(/--dim must divide the latent channels \(4\), got 3/);
  });
});

describe('gq-train failure handling', () => {
  it('stops on a non-finite loss with a clear message and keeps the last good checkpoint', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gq-nan-'));
    const config = resolveConfig({ ...tiny, steps: 6, learningRate: 1e30 });
    const error = await trainRun(config, { files: nodeFiles, outDir: dir, workers: 1, backend: 'wasm', resume: false, checkpointEvery: 1, quiet: true }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(TrainError);
    expect((error as TrainError).code).toBe('non-finite-loss');
    expect((error as Error).message).toMatch(/non-finite at step \d+ .*stopped without applying it. The last good checkpoint is .*checkpoint\.safetensors/);
    const saved = loadCheckpoint(nodeFiles, join(dir, checkpointName));
    expect(saved.step).toBeGreaterThanOrEqual(1);
  });
});

describe('gq-train end to end', () => {
  it('trains, evaluates, exports an artifact that @gq/tokenizer loads, and round-trips tokens', async () => {
    const { Tokenizer, readTokenFile, writeTokenFile } = await import('@gq/tokenizer');
    const tf = await import('@tensorflow/tfjs-core');
    const { evaluateAndExport, toModelInput } = await import('@gq/training');
    const dir = mkdtempSync(join(tmpdir(), 'gq-e2e-'));
    const config = resolveConfig({ ...tiny, steps: 3 });
    const outcome = await trainRun(config, { files: nodeFiles, outDir: dir, workers: 2, backend: 'wasm', resume: false, checkpointEvery: 0, quiet: true });
    let exported;
    try {
      exported = await evaluateAndExport(nodeFiles, config, outcome, dir, 'wasm');
    } finally {
      await outcome.trainer.dispose();
    }
    const { evaluation } = exported;
    const artifact = exported.artifact!;
    expect(evaluation.images).toBe(8);
    expect(evaluation.quantizedLabel).toBe('decode(GQ), K = 2^4');
    for (const scores of [evaluation.quantized, evaluation.mean!, evaluation.sample!]) expect(Number.isFinite(scores.psnr)).toBe(true);
    expect(artifact).toBeDefined();
    expect(existsSync(join(dir, 'grid.png'))).toBe(true);
    const tokenizer = await Tokenizer.load(new Uint8Array(readFileSync(artifact.container)));
    const fromFolder = await Tokenizer.load({
      manifest: readFileSync(join(artifact.folder, 'manifest.json'), 'utf8'),
      weights: new Uint8Array(readFileSync(join(artifact.folder, 'weights.safetensors'))),
    });
    expect(tokenizer.artifactId).toBe(artifact.artifactId);
    expect(fromFolder.artifactId).toBe(artifact.artifactId);
    const images = tf.tensor4d(toModelInput(outcome.test, [0, 1, 2, 3], 16, 3), [4, 16, 16, 3]);
    const tokens = await tokenizer.encode(images);
    expect(tokens.shape).toEqual([4, 8, 8, 1]); // f = 2 for chMult [1, 2]
    const file = writeTokenFile(tokens, tokenizer);
    const read = readTokenFile(file, { expectArtifactId: artifact.artifactId });
    expect(Array.from(read.tokens.indices)).toEqual(Array.from(tokens.indices));
    const decoded = await tokenizer.decode(read.tokens);
    expect(decoded.shape).toEqual([4, 16, 16, 3]);
    tf.dispose([images, decoded]);
    tokenizer.dispose();
    fromFolder.dispose();
  }, 300_000);
});
