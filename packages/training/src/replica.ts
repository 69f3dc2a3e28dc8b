import * as tf from '@tensorflow/tfjs-core';
import type { TrainableQuantizer } from '@gq/quantizers';
import { createAdam } from '@gq/runtime';
import type { CreateReplica, Replica, ReplicaCallHandlers, ReplicaState, Shard } from '@gq/runtime/parallel';
import {
  combineStats,
  klBits,
  reparameterize,
  summarizeBits,
  type Tdc,
  type TdcLossResult,
  type TdcState,
  type TdcStats,
} from '@gq/tdc';
import { decodeLatent, encodeLatent, initBackbone } from './backbone.js';
import type { TrainConfig } from './config.js';
import { methodSpec } from './methods.js';
import type { WeightArrays } from './model.js';

/** Options every replica receives (structured-cloneable). */
export interface ReplicaOptions {
  readonly config: TrainConfig;
}

/**
 * Baseline quantiser statistics of one step: the weighted auxiliary loss, and for VQ the code
 * counts of the step's batch (summed over workers) with the derived usage and perplexity.
 */
export interface QuantizerStepStats {
  readonly auxLoss: number;
  readonly counts?: readonly number[];
  readonly usedCodes?: number;
  readonly perplexity?: number;
  readonly entropySample?: number;
  readonly entropyBatch?: number;
  readonly commitment?: number;
}

/** What a step's statistics look like on the wire. */
export interface StepStats {
  /** Per-token rates (Gaussian methods): TDC statistics, or the plain KL's for the vanilla methods. */
  readonly tdc?: TdcStats;
  readonly quantizer?: QuantizerStepStats;
  readonly recon: number;
  readonly logScale: number;
}

/** Combined statistics applied by every replica. */
export type CombinedStats = StepStats;

function combineQuantizerStats(list: readonly QuantizerStepStats[], weights: readonly number[]): QuantizerStepStats {
  const mean = (key: 'auxLoss' | 'entropySample' | 'entropyBatch' | 'commitment'): number | undefined =>
    list.every((s) => s[key] !== undefined) ? list.reduce((sum, s, i) => sum + weights[i]! * s[key]!, 0) : undefined;
  const out: { -readonly [K in keyof QuantizerStepStats]: QuantizerStepStats[K] } = { auxLoss: mean('auxLoss')! };
  for (const key of ['entropySample', 'entropyBatch', 'commitment'] as const) {
    const value = mean(key);
    if (value !== undefined) out[key] = value;
  }
  if (list.every((s) => s.counts !== undefined)) {
    const counts = list[0]!.counts!.map((_, k) => list.reduce((sum, s) => sum + s.counts![k]!, 0));
    const total = counts.reduce((a, c) => a + c, 0);
    let entropy = 0;
    for (const c of counts) if (c > 0) entropy -= (c / total) * Math.log2(c / total);
    out.counts = counts;
    out.usedCodes = counts.filter((c) => c > 0).length;
    out.perplexity = 2 ** entropy;
  }
  return out;
}

export function combineStepStats(list: readonly StepStats[], weights: readonly number[]): CombinedStats {
  return {
    ...(list[0]!.tdc !== undefined ? { tdc: combineStats(list.map((s) => s.tdc!)) } : {}),
    ...(list[0]!.quantizer !== undefined ? { quantizer: combineQuantizerStats(list.map((s) => s.quantizer!), weights) } : {}),
    recon: list.reduce((sum, s, i) => sum + weights[i]! * s.recon, 0),
    logScale: list[0]!.logScale,
  };
}

/** A trained VQ codebook as it crosses threads: [K, m] row-major. */
export interface TrainedCodebook {
  readonly data: Float32Array;
  readonly shape: readonly number[];
}

/** What the training replica and its `DataParallelTrainer` exchange, typed end to end. */
export interface TrainingReplicaTypes {
  readonly stats: StepStats;
  readonly combined: CombinedStats;
  readonly options: ReplicaOptions;
  readonly calls: {
    /** The VAE's weights by parameter name (evaluation, export). */
    readonly weights: { readonly args: undefined; readonly result: WeightArrays };
    /** The learned codebook of a method that trains one (VQ); `null` otherwise. */
    readonly codebook: { readonly args: undefined; readonly result: TrainedCodebook | null };
    /** The TDC controller's state; `null` without TDC. */
    readonly 'tdc-state': { readonly args: undefined; readonly result: TdcState | null };
    /** Tensors alive in the worker (leak checks). */
    readonly 'num-tensors': { readonly args: undefined; readonly result: number };
  };
}

/** Noise seed of one worker's shard at one step: distinct per (seed, step, worker), fixed on resume. */
export function noiseSeed(seed: number, step: number, worker: number): number {
  let h = Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(step + 1, 0xc2b2ae35) ^ Math.imul(worker + 1, 0x27d4eb2f);
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  return (h ^ (h >>> 12)) >>> 0;
}

/**
 * The training replica: the run's VAE (UNet or ViT), a learned log-scale s for the reconstruction
 * term (docs/algorithms.md §5: Σ|x − x̂|·e^{−s} + 3HW·s per image), and the method's bottleneck, trained
 * with Adam:
 * - Gaussian methods decode z = μ + σε and add TDC (gq, tokenbridge-tdc) or a fixed-weight KL
 *   (gq-vanilla, tokenbridge); quantisation happens only at evaluation.
 * - Baselines (vq, fsq, lfq, bsq) decode the straight-through quantised μ and add the quantiser's
 *   own weighted auxiliary loss (§6) to the same reconstruction term; VQ's codebook is one more
 *   trainable variable (so it is averaged, checkpointed and restored like the weights).
 */
export const createReplica: CreateReplica<TrainingReplicaTypes> = ({ options, workerIndex }) => {
  const { config } = options;
  const initial = initBackbone(config, config.seed);
  const names = Object.keys(initial).sort();
  const params: Record<string, tf.Variable> = {};
  for (const name of names) params[name] = tf.variable(initial[name]!, true);
  tf.dispose(Object.values(initial));
  // tidy frees the initial scalar; the variable (which shares its buffer) survives.
  const logScale = tf.tidy(() => tf.variable(tf.scalar(0), true));
  const spec = methodSpec(config.method);
  // Only the baselines train through their quantiser, and theirs are the synchronous, differentiable kind.
  const quantizer = spec.trainsThroughQuantizer ? (spec.createQuantizer(config) as TrainableQuantizer<object>) : undefined;
  const quantizerVariables = quantizer !== undefined && 'trainableVariables' in quantizer ? (quantizer.trainableVariables as tf.Variable[]) : [];
  const variables = [...names.map((n) => params[n]!), logScale, ...quantizerVariables];
  // tf.train.adam bit for bit, with the per-variable update fused into one SIMD call on wasm.
  const optimizer = createAdam(config.learningRate);
  const pixelsPerImage = config.imageSize * config.imageSize * config.imageChannels;
  const gaussian = spec.gaussian;
  const tdc = spec.rateControl?.kind === 'tdc' ? spec.rateControl.create(config) : undefined;
  let step = 0;

  const replica: Replica<TrainingReplicaTypes> = {
    variables,
    async computeGradients(shard: Shard) {
      const x = tf.tensor4d(shard.images!.data as Float32Array, shard.images!.shape as [number, number, number, number]);
      const batch = x.shape[0];
      const seed = noiseSeed(config.seed, step, workerIndex);
      let tdcStats: TdcLossResult['stats'] | undefined;
      let quantizerStats: { read(): Promise<object> } | undefined;
      let reconValue: tf.Tensor | undefined;
      let auxValue: tf.Tensor | undefined;
      let vanillaBits: tf.Tensor | undefined;
      const { value, grads } = tf.variableGrads(() => {
        const { mu, logVar } = encodeLatent(config, params, x);
        let latent: tf.Tensor;
        let extraLoss: tf.Scalar;
        if (gaussian) {
          latent = reparameterize(mu, logVar, { seed });
          if (tdc !== undefined) {
            const result = tdc.loss(mu, logVar);
            tdcStats = result.stats;
            extraLoss = result.loss;
          } else {
            const bits = klBits(mu, logVar, { group: config.dim, layout: config.layout });
            vanillaBits = tf.keep(bits);
            extraLoss = tf.mul(tf.div(tf.sum(bits), batch), config.vanillaWeight) as tf.Scalar;
          }
        } else {
          const quantized = quantizer!.quantize(mu, { training: true });
          quantizerStats = quantized.stats;
          latent = quantized.zq;
          extraLoss = quantized.auxLoss;
          auxValue = tf.keep(quantized.auxLoss);
        }
        const xHat = decodeLatent(config, params, latent);
        const l1 = tf.div(tf.sum(tf.abs(tf.sub(x, xHat))), batch);
        reconValue = tf.keep(tf.div(l1, pixelsPerImage));
        const recon = tf.add(tf.mul(l1, tf.exp(tf.neg(logScale))), tf.mul(logScale, pixelsPerImage));
        return tf.add(recon, extraLoss) as tf.Scalar;
      }, variables);
      const loss = (await value.data())[0]!;
      const recon = (await reconValue!.data())[0]!;
      let stepStats: StepStats = { recon, logScale: (await logScale.data())[0]! };
      if (tdcStats !== undefined) {
        stepStats = { ...stepStats, tdc: await tdcStats.read() };
      } else if (vanillaBits !== undefined) {
        const target = { targetBits: config.codebookBits, tolerance: config.tdcBand };
        stepStats = { ...stepStats, tdc: summarizeBits((await vanillaBits.data()) as Float32Array, target) };
      }
      if (quantizerStats !== undefined) {
        const read = (await quantizerStats.read()) as Omit<QuantizerStepStats, 'auxLoss'>;
        const auxLoss = (await auxValue!.data())[0]!;
        const picked: QuantizerStepStats = { auxLoss };
        for (const key of ['counts', 'entropySample', 'entropyBatch', 'commitment'] as const) {
          if (read[key] !== undefined) Object.assign(picked, { [key]: read[key] });
        }
        stepStats = { ...stepStats, quantizer: picked };
      }
      tf.dispose([x, value, reconValue!, ...(vanillaBits !== undefined ? [vanillaBits] : []), ...(auxValue !== undefined ? [auxValue] : [])]);
      return { loss: loss / pixelsPerImage, grads: variables.map((v) => grads[v.name]!), stats: stepStats };
    },
    applyGradients(gradients, combined) {
      optimizer.applyGradients(variables.map((v, i) => ({ name: v.name, tensor: gradients[i]! })));
      if (tdc !== undefined) tdc.update(combined.tdc!);
      step++;
    },
    async getState(): Promise<ReplicaState> {
      const slots = await optimizer.getWeights();
      const arrays: Record<string, { shape: number[]; data: Float32Array | Int32Array }> = {};
      for (let i = 0; i < slots.length; i++) {
        const slot = slots[i]!;
        arrays[`adam:${i}:${slot.name}`] = { shape: [...slot.tensor.shape], data: (await slot.tensor.data()) as Float32Array | Int32Array };
      }
      // getWeights returns the moment variables themselves plus a fresh 'iter' scalar, which is ours to free.
      tf.dispose(slots.filter((slot) => slot.name === 'iter').map((slot) => slot.tensor));
      // Adam keeps β1^t and β2^t as running float32 products; setWeights recomputes them with pow(),
      // which can differ in the last bit, so they travel too for a bit-exact resume.
      const accumulators = adamAccumulators(optimizer);
      arrays['adam-acc'] = { shape: [2], data: new Float32Array([(await accumulators[0].data())[0]!, (await accumulators[1].data())[0]!]) };
      return { arrays, json: { ...(tdc !== undefined ? { tdc: tdc.state } : {}), step, names } };
    },
    async setState(state: ReplicaState) {
      const json = state.json as { tdc?: TdcState; step: number };
      const slots = Object.entries(state.arrays)
        .filter(([key]) => key.startsWith('adam:'))
        .sort((a, b) => Number(a[0].split(':')[1]) - Number(b[0].split(':')[1]))
        .map(([key, value]) => ({
          name: key.split(':').slice(2).join(':'),
          tensor: tf.tensor(value.data, [...value.shape], value.data instanceof Int32Array ? 'int32' : 'float32'),
        }));
      await optimizer.setWeights(slots);
      // setWeights reads the iteration count and wraps the moments in new variables that share the
      // buffers, so the tensors made here are ours to release.
      tf.dispose(slots.map((slot) => slot.tensor));
      const saved = state.arrays['adam-acc']?.data;
      if (saved !== undefined) {
        const accumulators = adamAccumulators(optimizer);
        tf.tidy(() => {
          accumulators[0].assign(tf.scalar(saved[0]!));
          accumulators[1].assign(tf.scalar(saved[1]!));
        });
      }
      if (tdc !== undefined) tdc.setState(json.tdc!);
      step = json.step;
    },
    calls: replicaCalls({ params, tdc, quantizer }),
    dispose() {
      optimizer.dispose();
      tf.dispose([...names.map((n) => params[n]!), logScale]);
      quantizer?.dispose();
    },
  };
  return replica;
};

function adamAccumulators(optimizer: tf.AdamOptimizer): [tf.Variable, tf.Variable] {
  const internals = optimizer as unknown as { accBeta1: tf.Variable; accBeta2: tf.Variable };
  return [internals.accBeta1, internals.accBeta2];
}

interface CallContext {
  readonly params: Record<string, tf.Variable>;
  readonly tdc: Tdc | undefined;
  readonly quantizer: TrainableQuantizer<object> | undefined;
}

/** Requests from the main thread: the trained weights and codebook (evaluation, export), controller state, tensor count. */
function replicaCalls(context: CallContext): ReplicaCallHandlers<TrainingReplicaTypes['calls']> {
  return {
    async weights() {
      const out: Record<string, { shape: number[]; data: Float32Array }> = {};
      for (const [name, variable] of Object.entries(context.params)) {
        out[name] = { shape: [...variable.shape], data: (await variable.data()) as Float32Array };
      }
      return out;
    },
    async codebook() {
      const quantizer = context.quantizer;
      if (quantizer === undefined || !('codebook' in quantizer)) return null;
      const codebook = quantizer.codebook as tf.Variable;
      return { data: (await codebook.data()) as Float32Array, shape: [...codebook.shape] };
    },
    'tdc-state': () => context.tdc?.state ?? null,
    'num-tensors': () => tf.memory().numTensors,
  };
}
