/*
 * Forward and forward+backward time per batch of 32 for the CPU presets, plus parameter counts of
 * every preset. Backend: wasm (single thread in Node) unless GQ_BACKEND says otherwise. Each model
 * time is also given as a multiple of one 3×3 conv (32→32 channels, 32×32, batch 32) measured in
 * the same run, so numbers from a loaded machine can still be compared.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as runtime from '@gq/runtime';
import { runVaeBench } from '@gq/test-utils/bench';
import { decode, encode, init, parameterCount, unetPresets } from '@gq/vae-unet';

await runVaeBench({
  presets: unetPresets,
  timed: ['cpu32', 'cpu64'],
  side: (config) => config.resolution,
  parameterCount,
  init,
  encode: (config, params, x) => encode(config, params, x),
  decode,
  baseline: {
    label: 'one 3×3 conv 32→32 at 32×32, batch 32',
    make(batch) {
      const x = tf.randomUniform([batch, 32, 32, 32], -1, 1, 'float32', 1) as tf.Tensor4D;
      const w = tf.randomNormal([3, 3, 32, 32], 0, 0.1, 'float32', 2) as tf.Tensor4D;
      return { run: () => tf.conv2d(x, w, 1, 'same'), dispose: () => tf.dispose([x, w]) };
    },
  },
}, runtime);
