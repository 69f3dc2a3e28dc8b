/*
 * Tokenizer costs on the cpu32 UNet preset (32×32×3, f = 4, C = 4) with K = 256, m = 4 (G = 1,
 * 0.5 bpp), batch 16: encode (VAE encoder + GQ + index read-back) against the bare VAE encoder
 * measured in the same run, decode against the bare VAE decoder, then token-file write/read and
 * artifact export/pack/load. Backend: wasm unless GQ_BACKEND says otherwise. The ratios are the
 * numbers to compare between runs; absolute times vary ±30 % on a shared machine.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as runtime from '@gq/runtime';
import { decode, encode, init, unetPresets } from '@gq/vae-unet';
import { Tokenizer, packArtifact, readTokenFile, toArtifact, writeTokenFile } from '@gq/tokenizer';

const backend = (process.env.GQ_BACKEND ?? 'wasm') as runtime.BackendName;
const reps = Number(process.env.GQ_BENCH_REPS ?? 5);
const batch = 16;

async function time(fn: () => Promise<unknown> | unknown, repeats = reps): Promise<number> {
  await fn();
  const start = performance.now();
  for (let r = 0; r < repeats; r++) await fn();
  return (performance.now() - start) / repeats;
}

/** Baseline and candidate timed alternately, so load changes on a shared machine hit both alike. */
async function timePair(baseline: () => Promise<unknown>, candidate: () => Promise<unknown>): Promise<[number, number]> {
  await baseline();
  await candidate();
  let a = 0;
  let b = 0;
  for (let r = 0; r < reps; r++) {
    let start = performance.now();
    await baseline();
    a += performance.now() - start;
    start = performance.now();
    await candidate();
    b += performance.now() - start;
  }
  return [a / reps, b / reps];
}

await runtime.useBackend(backend);
const config = unetPresets.cpu32;
const params = init(config, 1);
const tokenizer = Tokenizer.create({ arch: 'unet', config, params, codebook: { size: 256, dim: 4 } });
let seed = 1;
const images = tf.tidy(() => tf.sub(tf.mul(tf.randomUniform([batch, 32, 32, 3], 0, 1, 'float32', seed++), 2), 1)) as tf.Tensor4D;

console.log(`backend ${tf.getBackend()}, cpu32 UNet, K=256 m=4, batch ${batch}, mean of ${reps} runs after a warm-up, baseline and tokenizer interleaved (shared machine: ±30 %)\n`);

const [vaeEncode, tokEncode] = await timePair(
  async () => {
    const { mu, logVar } = encode(config, params, images);
    await mu.data();
    tf.dispose([mu, logVar]);
  },
  async () => tokenizer.encode(images),
);
const tokens = await tokenizer.encode(images);
const z = tf.tidy(() => {
  const { mu, logVar } = encode(config, params, images);
  tf.dispose(logVar);
  return mu;
});
const [vaeDecode, tokDecode] = await timePair(
  async () => {
    const out = decode(config, params, z);
    await out.data();
    out.dispose();
  },
  async () => {
    const out = await tokenizer.decode(tokens);
    await out.data();
    out.dispose();
  },
);
const artifact = await toArtifact(tokenizer);
const file = writeTokenFile(tokens, tokenizer);
const write = await time(() => writeTokenFile(tokens, tokenizer), 200);
const read = await time(() => readTokenFile(file), 200);
const exportMs = await time(() => toArtifact(tokenizer));
const packed = packArtifact(artifact);
const loadMs = await time(async () => (await Tokenizer.load(packed)).dispose());

console.log('| step | ms | ratio |');
console.log('|---|---:|---:|');
console.log(`| VAE encode (baseline) | ${vaeEncode.toFixed(1)} | 1.00 |`);
console.log(`| Tokenizer.encode (encode + GQ + read-back) | ${tokEncode.toFixed(1)} | ${(tokEncode / vaeEncode).toFixed(2)} × VAE encode |`);
console.log(`| VAE decode (baseline) | ${vaeDecode.toFixed(1)} | 1.00 |`);
console.log(`| Tokenizer.decode (dequantise + decode) | ${tokDecode.toFixed(1)} | ${(tokDecode / vaeDecode).toFixed(2)} × VAE decode |`);
console.log(`| writeTokenFile (${tokens.indices.length} tokens, ${file.length} B) | ${write.toFixed(3)} | ${(write / vaeEncode).toFixed(4)} × VAE encode |`);
console.log(`| readTokenFile | ${read.toFixed(3)} | ${(read / vaeEncode).toFixed(4)} × VAE encode |`);
console.log(`| toArtifact (${(artifact.weights.length / 1e6).toFixed(2)} MB weights, SHA-256) | ${exportMs.toFixed(1)} | ${(exportMs / vaeEncode).toFixed(2)} × VAE encode |`);
console.log(`| Tokenizer.load (.gqtok, verified) | ${loadMs.toFixed(1)} | ${(loadMs / vaeEncode).toFixed(2)} × VAE encode |`);

tokenizer.dispose();
tf.dispose([images, z, ...Object.values(params)]);
