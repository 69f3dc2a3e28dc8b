import * as tf from '@tensorflow/tfjs-core';
import type { CreateReplica, Replica, ReplicaState, Shard } from '@gq/runtime/parallel';
import { createTdc, combineStats, klBits, reparameterize, summarizeBits, type Tdc, type TdcState, type TdcStats } from '@gq/tdc';
import { decode, encode, init } from '@gq/vae-unet';
import type { TrainConfig } from './config.js';

/** Options every replica receives (structured-cloneable). */
export interface ReplicaOptions {
  readonly config: TrainConfig;
}

/** What a step's statistics look like on the wire. */
export interface StepStats {
  readonly tdc: TdcStats;
  readonly recon: number;
  readonly logScale: number;
}

/** Combined statistics applied by every replica. */
export interface CombinedStats {
  readonly tdc: TdcStats;
  readonly recon: number;
  readonly logScale: number;
}

export function combineStepStats(stats: readonly unknown[], weights: readonly number[]): CombinedStats {
  const list = stats as StepStats[];
  return {
    tdc: combineStats(list.map((s) => s.tdc)),
    recon: list.reduce((sum, s, i) => sum + weights[i]! * s.recon, 0),
    logScale: list[0]!.logScale,
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
 * The training replica: a UNet Gaussian VAE, a learned log-scale s for the reconstruction term
 * (ALGORITHMS §5: Σ|x − x̂|·e^{−s} + 3HW·s per image), and TDC (or a fixed-weight KL for
 * gq-vanilla), trained with Adam.
 */
export const createReplica: CreateReplica = ({ options, workerIndex }) => {
  const { config } = options as ReplicaOptions;
  const initial = init(config.model, config.seed);
  const names = Object.keys(initial).sort();
  const params: Record<string, tf.Variable> = {};
  for (const name of names) params[name] = tf.variable(initial[name]!, true);
  tf.dispose(Object.values(initial));
  const logScale = tf.variable(tf.scalar(0), true);
  const variables = [...names.map((n) => params[n]!), logScale];
  const optimizer = tf.train.adam(config.learningRate);
  const pixelsPerImage = config.imageSize * config.imageSize * config.imageChannels;
  const tdc: Tdc = createTdc({
    codebookSize: 2 ** config.codebookBits,
    group: config.dim,
    layout: config.layout,
    lambdaRange: [1e-3, 1e3],
  });
  let step = 0;

  const replica: Replica = {
    variables,
    async computeGradients(shard: Shard) {
      const x = tf.tensor4d(shard.images!.data as Float32Array, shard.images!.shape as [number, number, number, number]);
      const batch = x.shape[0];
      const seed = noiseSeed(config.seed, step, workerIndex);
      let statsHandle: ReturnType<Tdc['loss']>['stats'] | undefined;
      let reconValue: tf.Tensor | undefined;
      let vanillaBits: tf.Tensor | undefined;
      const { value, grads } = tf.variableGrads(() => {
        const { mu, logVar } = encode(config.model, params, x);
        const z = reparameterize(mu, logVar, { seed });
        const xHat = decode(config.model, params, z as tf.Tensor4D);
        const l1 = tf.div(tf.sum(tf.abs(tf.sub(x, xHat))), batch);
        reconValue = tf.keep(tf.div(l1, pixelsPerImage));
        const recon = tf.add(tf.mul(l1, tf.exp(tf.neg(logScale))), tf.mul(logScale, pixelsPerImage));
        let rateLoss: tf.Scalar;
        if (config.method === 'gq') {
          const result = tdc.loss(mu, logVar);
          statsHandle = result.stats;
          rateLoss = result.loss;
        } else {
          const bits = klBits(mu, logVar, { group: config.dim, layout: config.layout });
          vanillaBits = tf.keep(bits);
          rateLoss = tf.mul(tf.div(tf.sum(bits), batch), config.vanillaWeight) as tf.Scalar;
        }
        return tf.add(recon, rateLoss) as tf.Scalar;
      }, variables);
      const loss = (await value.data())[0]!;
      const recon = (await reconValue!.data())[0]!;
      const tdcStats =
        statsHandle !== undefined
          ? await statsHandle.read()
          : summarizeBits((await vanillaBits!.data()) as Float32Array, { targetBits: tdc.targetBits, tolerance: 0.5 });
      tf.dispose([x, value, reconValue!, ...(vanillaBits !== undefined ? [vanillaBits] : [])]);
      const stats: StepStats = { tdc: tdcStats, recon, logScale: (await logScale.data())[0]! };
      return { loss: loss / pixelsPerImage, grads: variables.map((v) => grads[v.name]!), stats };
    },
    applyGradients(gradients, combined) {
      optimizer.applyGradients(variables.map((v, i) => ({ name: v.name, tensor: gradients[i]! })));
      tdc.update((combined as CombinedStats).tdc);
      step++;
    },
    async getState(): Promise<ReplicaState> {
      const slots = await optimizer.getWeights();
      const arrays: Record<string, { shape: number[]; data: Float32Array | Int32Array }> = {};
      for (let i = 0; i < slots.length; i++) {
        const slot = slots[i]!;
        arrays[`adam:${i}:${slot.name}`] = { shape: [...slot.tensor.shape], data: (await slot.tensor.data()) as Float32Array | Int32Array };
      }
      // Adam keeps β1^t and β2^t as running float32 products; setWeights recomputes them with pow(),
      // which can differ in the last bit, so they travel too for a bit-exact resume.
      const accumulators = adamAccumulators(optimizer);
      arrays['adam-acc'] = { shape: [2], data: new Float32Array([(await accumulators[0].data())[0]!, (await accumulators[1].data())[0]!]) };
      return { arrays, json: { tdc: tdc.state, step, names } };
    },
    async setState(state: ReplicaState) {
      const json = state.json as { tdc: TdcState; step: number };
      const slots = Object.entries(state.arrays)
        .filter(([key]) => key.startsWith('adam:'))
        .sort((a, b) => Number(a[0].split(':')[1]) - Number(b[0].split(':')[1]))
        .map(([key, value]) => ({
          name: key.split(':').slice(2).join(':'),
          tensor: tf.tensor(value.data, [...value.shape], value.data instanceof Int32Array ? 'int32' : 'float32'),
        }));
      await optimizer.setWeights(slots);
      const saved = state.arrays['adam-acc']?.data;
      if (saved !== undefined) {
        const accumulators = adamAccumulators(optimizer);
        tf.tidy(() => {
          accumulators[0].assign(tf.scalar(saved[0]!));
          accumulators[1].assign(tf.scalar(saved[1]!));
        });
      }
      tdc.setState(json.tdc);
      step = json.step;
    },
    call(method: string, args: unknown) {
      return replicaCalls(method, args, { config, params, tdc });
    },
    dispose() {
      optimizer.dispose();
      tf.dispose(variables);
    },
  };
  return replica;
};

function adamAccumulators(optimizer: tf.AdamOptimizer): [tf.Variable, tf.Variable] {
  const internals = optimizer as unknown as { accBeta1: tf.Variable; accBeta2: tf.Variable };
  return [internals.accBeta1, internals.accBeta2];
}

interface CallContext {
  readonly config: TrainConfig;
  readonly params: Record<string, tf.Variable>;
  readonly tdc: Tdc;
}

/** Requests from the main thread: forward passes for evaluation, weights for export. */
async function replicaCalls(method: string, args: unknown, context: CallContext): Promise<unknown> {
  const { config, params } = context;
  switch (method) {
    case 'encode': {
      const { images, shape } = args as { images: Float32Array; shape: [number, number, number, number] };
      const x = tf.tensor4d(images, shape);
      const { mu, logVar } = encode(config.model, params, x);
      const out = { mu: await mu.data(), logVar: await logVar.data(), shape: mu.shape };
      tf.dispose([x, mu, logVar]);
      return out;
    }
    case 'decode': {
      const { latent, shape } = args as { latent: Float32Array; shape: [number, number, number, number] };
      const z = tf.tensor4d(latent, shape);
      const xHat = decode(config.model, params, z);
      const out = { images: await xHat.data(), shape: xHat.shape };
      tf.dispose([z, xHat]);
      return out;
    }
    case 'weights': {
      const out: Record<string, { shape: number[]; data: Float32Array }> = {};
      for (const [name, variable] of Object.entries(params)) {
        out[name] = { shape: [...variable.shape], data: (await variable.data()) as Float32Array };
      }
      return out;
    }
    case 'tdc-state':
      return context.tdc.state;
    case 'num-tensors':
      return tf.memory().numTensors;
    default:
      throw new Error(`unknown replica call '${method}'`);
  }
}
