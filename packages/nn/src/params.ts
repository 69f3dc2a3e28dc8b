import * as tf from '@tensorflow/tfjs-core';
import { createRng, type GqErrorClass, type Rng } from '@gq/core';
import { NnError } from './errors.js';
import { hwioToOihw, oihwToHwio, transposeMatrix } from './layout.js';

/**
 * A parameter tree: PyTorch state-dict key → tensor in our channel-last layout. Conv weights are
 * HWIO, linear weights [in, out]; everything else keeps the PyTorch shape.
 */
export type ParamTree = Readonly<Record<string, tf.Tensor>>;

/** How a parameter's PyTorch layout maps to ours. */
export type ParamKind = 'conv2d' | 'linear' | 'plain';

/** How `initParams` draws a parameter's initial values. */
export type ParamInit =
  | { readonly kind: 'uniform'; readonly bound: number }
  | { readonly kind: 'normal'; readonly std: number }
  /** Normal(0, std) redrawn until inside [low, high] (absolute bounds, as timm's trunc_normal_). */
  | { readonly kind: 'truncatedNormal'; readonly std: number; readonly low: number; readonly high: number }
  | { readonly kind: 'constant'; readonly value: number };

/** One entry of a model's state_dict: its key, PyTorch shape, layout kind and initialisation. */
export interface ParamSpec {
  /** The PyTorch state-dict key. */
  readonly name: string;
  /** Shape as PyTorch stores it (OIHW for conv, [out, in] for linear). */
  readonly torchShape: readonly number[];
  /** How the PyTorch layout maps to ours. */
  readonly kind: ParamKind;
  /** How `initParams` draws the initial values. */
  readonly init: ParamInit;
}

/** A weight as read from safetensors or a checkpoint: raw dtype code, PyTorch shape, values. */
export interface WeightEntry {
  readonly dtype: string;
  readonly shape: readonly number[];
  readonly data: ArrayLike<number | bigint>;
}

/** Float32 weights in PyTorch layout, ready for `serializeSafetensors`. */
export interface Float32Weight {
  readonly dtype: 'F32';
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

/** What `matchWeights` found wrong: keys missing from the weights, keys no spec names, keys of the wrong shape or dtype. */
export interface WeightReport {
  readonly missing: readonly string[];
  readonly unexpected: readonly string[];
  readonly mismatched: readonly string[];
}

/** Our tensor shape for a spec. */
export function internalShape(spec: ParamSpec): number[] {
  const s = spec.torchShape;
  if (spec.kind === 'conv2d') return [s[2]!, s[3]!, s[1]!, s[0]!];
  if (spec.kind === 'linear') return [s[1]!, s[0]!];
  return [...s];
}

function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** PyTorch's default init for Conv2d/Linear (kaiming_uniform with a=√5): U(±1/√fan_in), bias too. */
export function torchDefaultBound(fanIn: number): number {
  return 1 / Math.sqrt(fanIn);
}

/** Specs for a PyTorch `Conv2d(inChannels, outChannels, kernel)` with its default init. */
export function conv2dSpecs(name: string, inChannels: number, outChannels: number, kernel: number, bias = true): ParamSpec[] {
  const bound = torchDefaultBound(inChannels * kernel * kernel);
  const specs: ParamSpec[] = [
    { name: `${name}.weight`, torchShape: [outChannels, inChannels, kernel, kernel], kind: 'conv2d', init: { kind: 'uniform', bound } },
  ];
  if (bias) specs.push({ name: `${name}.bias`, torchShape: [outChannels], kind: 'plain', init: { kind: 'uniform', bound } });
  return specs;
}

/** Specs for a PyTorch `Linear(inFeatures, outFeatures)`; inits default to PyTorch's. */
export function linearSpecs(
  name: string,
  inFeatures: number,
  outFeatures: number,
  options: { readonly bias?: boolean; readonly weightInit?: ParamInit; readonly biasInit?: ParamInit } = {},
): ParamSpec[] {
  const bound = torchDefaultBound(inFeatures);
  const specs: ParamSpec[] = [
    {
      name: `${name}.weight`,
      torchShape: [outFeatures, inFeatures],
      kind: 'linear',
      init: options.weightInit ?? { kind: 'uniform', bound },
    },
  ];
  if (options.bias ?? true) {
    specs.push({ name: `${name}.bias`, torchShape: [outFeatures], kind: 'plain', init: options.biasInit ?? { kind: 'uniform', bound } });
  }
  return specs;
}

/** Specs for an affine GroupNorm/LayerNorm: weight 1, bias 0. */
export function normSpecs(name: string, channels: number): ParamSpec[] {
  return [
    { name: `${name}.weight`, torchShape: [channels], kind: 'plain', init: { kind: 'constant', value: 1 } },
    { name: `${name}.bias`, torchShape: [channels], kind: 'plain', init: { kind: 'constant', value: 0 } },
  ];
}

function draw(init: ParamInit, count: number, rng: Rng): Float32Array {
  const out = new Float32Array(count);
  switch (init.kind) {
    case 'constant':
      out.fill(init.value);
      break;
    case 'uniform':
      for (let i = 0; i < count; i++) out[i] = (2 * rng.uniform() - 1) * init.bound;
      break;
    case 'normal':
      for (let i = 0; i < count; i++) out[i] = rng.normal() * init.std;
      break;
    case 'truncatedNormal':
      for (let i = 0; i < count; i++) {
        let value = rng.normal() * init.std;
        while (value < init.low || value > init.high) value = rng.normal() * init.std;
        out[i] = value;
      }
      break;
  }
  return out;
}

function toInternal(spec: ParamSpec, data: Float32Array): Float32Array {
  if (spec.kind === 'conv2d') return oihwToHwio(data, spec.torchShape);
  if (spec.kind === 'linear') return transposeMatrix(data, spec.torchShape);
  return data;
}

function toTorch(spec: ParamSpec, data: Float32Array): Float32Array {
  if (spec.kind === 'conv2d') return hwioToOihw(data, internalShape(spec));
  if (spec.kind === 'linear') return transposeMatrix(data, internalShape(spec));
  return data;
}

/**
 * Initialise every spec from one seeded stream, in spec order, drawing values in PyTorch layout
 * (so a seed fixes the exported weights). Returns plain tensors; the caller owns them.
 */
export function initParams(specs: readonly ParamSpec[], seed: number): Record<string, tf.Tensor> {
  if (!Number.isSafeInteger(seed) || seed < 0 || seed >= 2 ** 32) {
    throw new NnError('bad-seed', `initParams: seed must be an integer in [0, 2^32), got ${seed}`);
  }
  const rng = createRng(seed);
  const params: Record<string, tf.Tensor> = {};
  for (const spec of specs) {
    const values = draw(spec.init, sizeOf(spec.torchShape), rng);
    params[spec.name] = tf.tensor(toInternal(spec, values), internalShape(spec), 'float32');
  }
  return params;
}

/** Number of scalars in a spec list or a parameter tree. */
export function countParameters(source: readonly ParamSpec[] | ParamTree): number {
  if (Array.isArray(source)) return (source as readonly ParamSpec[]).reduce((n, s) => n + sizeOf(s.torchShape), 0);
  return Object.values(source as ParamTree).reduce((n, t) => n + t.size, 0);
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

const floatDtypes = new Set(['F32', 'F64', 'F16', 'BF16']);

/**
 * Compare weights against specs: keys the specs need but the weights lack, keys the weights have
 * that no spec names (unless `ignore` accepts them), and keys whose shape or dtype is wrong.
 */
export function matchWeights(
  weights: ReadonlyMap<string, WeightEntry>,
  specs: readonly ParamSpec[],
  ignore: (name: string) => boolean = () => false,
): WeightReport {
  const wanted = new Map(specs.map((s) => [s.name, s]));
  const missing: string[] = [];
  const mismatched: string[] = [];
  for (const spec of specs) {
    const entry = weights.get(spec.name);
    if (entry === undefined) {
      missing.push(spec.name);
    } else if (!floatDtypes.has(entry.dtype)) {
      mismatched.push(`${spec.name} (dtype ${entry.dtype}, expected a float type)`);
    } else if (!sameShape(entry.shape, spec.torchShape)) {
      mismatched.push(`${spec.name} (shape [${entry.shape.join(',')}], expected [${spec.torchShape.join(',')}])`);
    } else if (entry.data.length !== sizeOf(spec.torchShape)) {
      mismatched.push(`${spec.name} (${entry.data.length} values, expected ${sizeOf(spec.torchShape)})`);
    }
  }
  const unexpected = [...weights.keys()].filter((name) => !wanted.has(name) && !ignore(name));
  return { missing, unexpected, mismatched };
}

/** One line per problem group, listing at most `limit` keys each. */
export function formatWeightReport(report: WeightReport, limit = 20): string {
  const part = (label: string, names: readonly string[]): string | undefined => {
    if (names.length === 0) return undefined;
    const shown = names.slice(0, limit).join(', ');
    return `${names.length} ${label}: ${shown}${names.length > limit ? `, … (${names.length - limit} more)` : ''}`;
  };
  return [part('missing', report.missing), part('unexpected', report.unexpected), part('mis-shaped', report.mismatched)]
    .filter((s): s is string => s !== undefined)
    .join('; ');
}

/** True when a `WeightReport` lists no problem. */
export function isCleanReport(report: WeightReport): boolean {
  return report.missing.length === 0 && report.unexpected.length === 0 && report.mismatched.length === 0;
}

function halfToFloat(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >>> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 0x1f) return fraction === 0 ? sign * Infinity : NaN;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

/** Decode a float weight to float32 (F16/BF16 arrive as raw 16-bit patterns, as @gq/safetensors gives them). */
export function weightToFloat32(entry: WeightEntry): Float32Array {
  const n = entry.data.length;
  const out = new Float32Array(n);
  const data = entry.data as ArrayLike<number>;
  switch (entry.dtype) {
    case 'F32':
    case 'F64':
      for (let i = 0; i < n; i++) out[i] = data[i]!;
      return out;
    case 'F16':
      for (let i = 0; i < n; i++) out[i] = halfToFloat(data[i]!);
      return out;
    case 'BF16': {
      const word = new Uint32Array(out.buffer);
      for (let i = 0; i < n; i++) word[i] = (data[i]! & 0xffff) << 16;
      return out;
    }
    default:
      throw new NnError('bad-dtype', `weightToFloat32: dtype must be F32, F64, F16 or BF16, got ${entry.dtype}`);
  }
}

/**
 * Build a parameter tree from validated weights (run `matchWeights` first; this throws NnError
 * with the report if anything is wrong). Returns new tensors; the caller owns them.
 */
export function weightsToParams(
  weights: ReadonlyMap<string, WeightEntry>,
  specs: readonly ParamSpec[],
  ignore?: (name: string) => boolean,
): Record<string, tf.Tensor> {
  const report = matchWeights(weights, specs, ignore);
  if (!isCleanReport(report)) throw new NnError('bad-weights', `weightsToParams: ${formatWeightReport(report)}`);
  const params: Record<string, tf.Tensor> = {};
  for (const spec of specs) {
    const values = weightToFloat32(weights.get(spec.name)!);
    params[spec.name] = tf.tensor(toInternal(spec, values), internalShape(spec), 'float32');
  }
  return params;
}

/**
 * Read a parameter tree back into PyTorch layout, keyed and ordered as the specs. Throws NnError
 * when a key is missing or a tensor has the wrong shape.
 */
export async function paramsToWeights(params: ParamTree, specs: readonly ParamSpec[]): Promise<Record<string, Float32Weight>> {
  checkParams('paramsToWeights', params, specs);
  const out: Record<string, Float32Weight> = {};
  for (const spec of specs) {
    const values = (await params[spec.name]!.data()) as Float32Array;
    out[spec.name] = { dtype: 'F32', shape: [...spec.torchShape], data: toTorch(spec, Float32Array.from(values)) };
  }
  return out;
}

/**
 * Throw `errorClass` (default NnError) with code 'bad-params' unless `params` holds every spec with
 * our layout's shape and float32 dtype; `fn` is the public function named in the message.
 */
export function checkParams(fn: string, params: ParamTree, specs: readonly ParamSpec[], errorClass: GqErrorClass = NnError): void {
  const problems: string[] = [];
  for (const spec of specs) {
    const t = params[spec.name];
    const expected = internalShape(spec);
    if (t === undefined) problems.push(`${spec.name} missing`);
    else if (t.dtype !== 'float32' || !sameShape(t.shape, expected)) {
      problems.push(`${spec.name} is ${t.dtype} [${t.shape.join(',')}], expected float32 [${expected.join(',')}]`);
    }
  }
  if (problems.length > 0) {
    const shown = problems.slice(0, 20).join('; ');
    throw new errorClass('bad-params', `${fn}: parameter tree must match the config, got ${problems.length} problem(s): ${shown}`);
  }
}

/** Wrap every tensor in a tf.Variable (for optimizers); the originals are left to the caller. */
export function toVariables(params: ParamTree, trainable = true): Record<string, tf.Variable> {
  const out: Record<string, tf.Variable> = {};
  for (const [name, t] of Object.entries(params)) out[name] = tf.variable(t, trainable);
  return out;
}

/** Dispose every tensor in a tree. */
export function disposeParams(params: ParamTree): void {
  for (const t of Object.values(params)) t.dispose();
}
