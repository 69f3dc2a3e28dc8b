import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { registerTrainingKernels } from '@gq/runtime';
import { vq } from '@gq/quantizers';
import { seededNormal, setupBackend } from '@gq/test-utils';

/**
 * The codebook gradient of a VQ training step under tf.variableGrads: the tape frees forward
 * tensors before backward, so a custom gradient must carry what it needs through save(). The cpu
 * backend happens to keep freed buffers readable; wasm does not, so both must agree.
 */
async function codebookGradient(backend: 'cpu' | 'wasm'): Promise<{ grad: Float32Array; loss: number }> {
  await setupBackend(backend);
  if (backend === 'wasm') registerTrainingKernels();
  const normal = seededNormal(11);
  const z = tf.tensor4d(Float32Array.from({ length: 2 * 4 * 4 * 8 }, () => normal() * 0.01), [2, 4, 4, 8]);
  const probe = tf.tensor4d(Float32Array.from({ length: 2 * 4 * 4 * 8 }, () => normal()), [2, 4, 4, 8]);
  const quantizer = vq({ codebookSize: 16, dim: 4, channels: 8, seed: 5 });
  const { value, grads } = tf.variableGrads(() => {
    const out = quantizer.quantize(z, { training: true });
    out.stats.dispose();
    return tf.add(out.auxLoss, tf.sum(tf.mul(out.zq, probe))) as tf.Scalar;
  }, quantizer.trainableVariables);
  const grad = (await grads[quantizer.codebook.name]!.data()) as Float32Array;
  const loss = (await value.data())[0]!;
  tf.dispose([z, probe, value, ...Object.values(grads)]);
  quantizer.dispose();
  return { grad, loss };
}

describe('vq training on wasm', () => {
  it('computes the same codebook gradient as on cpu, and a non-zero one', async () => {
    const cpu = await codebookGradient('cpu');
    const wasm = await codebookGradient('wasm');
    expect(Math.abs(wasm.loss - cpu.loss)).toBeLessThan(1e-4 * Math.max(1, Math.abs(cpu.loss)));
    expect(cpu.grad.some((g) => g !== 0)).toBe(true);
    // Float32 sums over up to 32 tokens per code, in different orders on the two backends.
    for (let i = 0; i < cpu.grad.length; i++) expect(Math.abs(wasm.grad[i]! - cpu.grad[i]!)).toBeLessThan(1e-5 * Math.max(1, Math.abs(cpu.grad[i]!)) * 32);
  });
});
