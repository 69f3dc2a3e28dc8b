/*
 * Forward and forward+backward time per batch of 32 for the CPU presets, plus parameter counts of
 * every preset. Backend: wasm (single thread in Node) unless GQ_BACKEND says otherwise. Each model
 * time is also given as a multiple of one matMul [32·64, 128] × [128, 512] (one ViT MLP layer at
 * batch 32) measured in the same run, so numbers from a loaded machine can still be compared.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as runtime from '@gq/runtime';
import { runVaeBench } from '@gq/test-utils/bench';
import { decode, encode, init, parameterCount, vitPresets } from '@gq/vae-vit';

await runVaeBench({
  presets: vitPresets,
  timed: ['cpu32', 'cpu64'],
  side: (config) => config.imageSize,
  parameterCount,
  init,
  encode: (config, params, x) => encode(config, params, x),
  decode,
  baseline: {
    label: 'matMul [2048, 128] × [128, 512]',
    make(batch) {
      const a = tf.randomUniform([batch * 64, 128], -1, 1, 'float32', 1) as tf.Tensor2D;
      const b = tf.randomNormal([128, 512], 0, 0.1, 'float32', 2) as tf.Tensor2D;
      return { run: () => tf.matMul(a, b), dispose: () => tf.dispose([a, b]) };
    },
  },
}, runtime);
