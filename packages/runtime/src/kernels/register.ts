import * as tf from '@tensorflow/tfjs-core';
import type {
  _FusedMatMulAttrs,
  BatchMatMulAttrs,
  Conv2DAttrs,
  Conv2DBackpropFilterAttrs,
  Conv2DBackpropInputAttrs,
  DepthwiseConv2dNativeBackpropFilterAttrs,
  DepthwiseConv2dNativeBackpropInputAttrs,
  FusedConv2DAttrs,
  KernelConfig,
  KernelFunc,
  NamedAttrMap,
  NamedTensorInfoMap,
  SumAttrs,
  TensorInfo,
  UnsortedSegmentSumAttrs,
} from '@tensorflow/tfjs-core';
import {
  geluGradKernelName,
  geluKernelName,
  normGradKernelName,
  normKernelName,
  upsampleGradKernelName,
  upsampleKernelName,
  type NormKernelAttrs,
} from '@gq/nn/internal';
import { RuntimeError } from '../errors.js';
import {
  conv2dBackpropFilter,
  conv2dBackpropInput,
  depthwiseBackpropFilter,
  depthwiseBackpropInput,
  referenceConv2dBackpropInput,
  type KernelPath,
  type KernelResult,
} from './conv-backprop.js';
import { unsortedSegmentSum } from './unsorted-segment-sum.js';
import { batchMatMul, fusedMatMul, type FusedMatMulInputs } from './batch-mat-mul.js';
import { gemmArithmetic } from './batched-gemm-simd.js';
import { geluBackward, geluForward } from './gelu.js';
import { normBackward, normForward, upsampleNearest2x, upsampleNearest2xGrad } from './norm.js';
import { sumLeadingAxes } from './sum.js';
import { winogradConvolution } from './winograd.js';
import { reshape, type WasmBackendLike } from './wasm-ops.js';

/**
 * The fused kernels @gq/nn's layers run where a backend registers them (normalisation with its
 * affine map and SiLU, nearest ×2 upsampling, GELU, and their gradients), each a single pass over
 * the wasm heap in place of a chain of tfjs kernels.
 */
export const fusedKernelNames = [normKernelName, normGradKernelName, upsampleKernelName, upsampleGradKernelName, geluKernelName, geluGradKernelName] as const;

/**
 * The kernels that speed up the layers' own work: the fused ones, a BatchMatMul on a SIMD GEMM
 * (reading transposed operands without wasm's scalar loops: linear and attention products and
 * their gradients), and a _FusedMatMul on the same GEMM for linear layers' forward (x·W + b).
 * Sum: bias gradients (sums over leading axes) on the heap in place, without wasm's transpose.
 * Identity (tf.clone, and what autodiff and custom gradients clone): the same buffer with one more
 * reference, as Reshape does, where wasm's own kernel copies it; no kernel writes into its inputs,
 * and the in-place Adam updates only buffers nothing else references. Conv2D and FusedConv2D: 3×3
 * 'same' convolutions with enough channels and positions by Winograd's F(2×2, 3×3) (winograd.ts),
 * the rest by wasm's own kernel; the input gradient's convolution goes the same way.
 */
export const layerKernelNames = [...fusedKernelNames, 'BatchMatMul', '_FusedMatMul', 'Sum', 'Identity', 'Conv2D', 'FusedConv2D'] as const;

/** The forward convolutions `registerTrainingKernels` runs by Winograd where they qualify (winograd.ts). */
export const winogradKernelNames = ['Conv2D', 'FusedConv2D'] as const;

/** The kernels `registerTrainingKernels` installs on the 'wasm' backend. */
export const trainingKernelNames = [
  'Conv2DBackpropFilter',
  'Conv2DBackpropInput',
  'UnsortedSegmentSum',
  'DepthwiseConv2dNativeBackpropFilter',
  'DepthwiseConv2dNativeBackpropInput',
  ...layerKernelNames,
] as const;

/** A kernel name `registerTrainingKernels` installs. */
export type TrainingKernelName = (typeof trainingKernelNames)[number];

/** Options of `registerTrainingKernels`. */
export interface RegisterTrainingKernelsOptions {
  /**
   * Also install the layer kernels (`layerKernelNames`: the fused normalisation and upsampling
   * kernels and the BatchMatMul and _FusedMatMul replacements; default true). `false` leaves them out (removing them
   * if installed), so @gq/nn composes tfjs-core ops and matrix products take wasm's own kernel:
   * the same results within float32 rounding, slower (for comparisons).
   */
  readonly fused?: boolean;
  /**
   * Run 3×3 'same' convolutions with enough channels and positions by Winograd's F(2×2, 3×3)
   * (`winogradKernelNames`, and with them the input gradient), and their weight gradients by
   * F(3×3, 2×2) (default true, and only with the layer kernels). `false` keeps every convolution
   * and weight gradient direct: the same results within float32 rounding, slower.
   */
  readonly winograd?: boolean;
  /**
   * Multiply–add in the engine's matrix products (the Winograd convolutions', the linear layers',
   * attention's) with relaxed SIMD's f32x4.relaxed_madd where this engine validates it (default
   * true): one fused instruction, rounded once, on CPUs with FMA, 1.1–1.2× as fast a UNet step.
   * `useBackend('wasm')` makes relaxed SIMD available in Node 20 (`enableRelaxedSimd`). `false`
   * multiplies then adds: the same sums in the same order, each step rounded twice.
   */
  readonly fusedMultiplyAdd?: boolean;
}

export interface TrainingKernelState {
  /** Whether the wasm registry currently holds this package's kernel under that name. */
  readonly registered: boolean;
  /** Whether wasm shipped its own kernel for the name (kept as the fallback, restored on unregister). */
  readonly replacedOriginal: boolean;
  /** Calls served by the XNNPACK composition since registration. */
  readonly fastCalls: number;
  /** Calls served by a fallback (wasm's own kernel or the plain-JS reference). */
  readonly fallbackCalls: number;
}

export type TrainingKernelStatus = Readonly<Record<TrainingKernelName, TrainingKernelState>>;

const backendName = 'wasm';
/** Whether the weight gradient of a 3×3 'same' convolution runs by Winograd (set by `registerTrainingKernels`). */
let winogradGradients = true;
const originals = new Map<TrainingKernelName, KernelConfig>();
const counters = new Map<TrainingKernelName, { fast: number; fallback: number }>();
const configs = new Map<TrainingKernelName, KernelConfig>();
/** Backend instances on which an original kernel's setup (its wasm function binding) has run. */
const setUpOriginals = new WeakMap<object, Set<TrainingKernelName>>();

function count(name: TrainingKernelName, path: KernelPath): void {
  const entry = counters.get(name) ?? { fast: 0, fallback: 0 };
  entry[path] += 1;
  counters.set(name, entry);
}

/**
 * Run the wasm kernel this package replaced. Its setup binds the wasm export and normally runs
 * when the backend is selected; if the replacement was registered before that, the original
 * never got it, so it is set up here once per backend instance.
 */
function runOriginal(name: TrainingKernelName, args: Parameters<KernelFunc>[0]): TensorInfo | undefined {
  const original = originals.get(name);
  if (original === undefined) return undefined;
  let done = setUpOriginals.get(args.backend);
  if (done === undefined) {
    done = new Set();
    setUpOriginals.set(args.backend, done);
  }
  if (!done.has(name)) {
    original.setupFunc?.(args.backend as Parameters<NonNullable<KernelConfig['setupFunc']>>[0]);
    done.add(name);
  }
  const out = original.kernelFunc(args);
  return Array.isArray(out) ? out[0] : out;
}

type Args = { inputs: NamedTensorInfoMap; backend: object; attrs?: NamedAttrMap };

function attrsOf<T>(args: Args): T {
  return (args.attrs ?? {}) as unknown as T;
}

/**
 * A kernel whose implementation reports which path it took: the path is counted and the output
 * returned, so each entry below only unpacks its inputs and attrs.
 */
function counted<I extends NamedTensorInfoMap, A>(
  name: TrainingKernelName,
  run: (backend: WasmBackendLike, inputs: I, attrs: A) => KernelResult,
): (args: Args) => TensorInfo | TensorInfo[] {
  return (args) => {
    const { out, path } = run(args.backend as WasmBackendLike, args.inputs as I, attrsOf<A>(args));
    count(name, path);
    return out;
  };
}

/** A kernel with a single implementation: every call counts as the fast path. */
function direct<I extends NamedTensorInfoMap, A>(
  name: TrainingKernelName,
  run: (backend: WasmBackendLike, inputs: I, attrs: A) => TensorInfo | TensorInfo[],
): (args: Args) => TensorInfo | TensorInfo[] {
  return (args) => {
    const out = run(args.backend as WasmBackendLike, args.inputs as I, attrsOf<A>(args));
    count(name, 'fast');
    return out;
  };
}

/** Conv2D or FusedConv2D: Winograd where `winogradConvolution` takes the call, wasm's own kernel otherwise. */
function forwardConvolution(name: 'Conv2D' | 'FusedConv2D'): (args: Args) => TensorInfo {
  return (args) => {
    const inputs = args.inputs as { x: TensorInfo; filter: TensorInfo; bias?: TensorInfo; preluActivationWeights?: TensorInfo };
    const out = winogradConvolution(args.backend as WasmBackendLike, inputs, attrsOf<Conv2DAttrs & Partial<Pick<FusedConv2DAttrs, 'activation'>>>(args));
    if (out !== undefined) {
      count(name, 'fast');
      return out;
    }
    count(name, 'fallback');
    const result = runOriginal(name, args);
    if (result === undefined) {
      throw new RuntimeError('wasm-kernel-missing', `registerTrainingKernels: the wasm backend must provide the '${name}' kernel, got none registered`);
    }
    return result;
  };
}

type NormInputs = { x: TensorInfo; gamma: TensorInfo; beta: TensorInfo };
type NormGradInputs = NormInputs & { dy: TensorInfo; mean: TensorInfo; rstd: TensorInfo; y?: TensorInfo };

const kernelFuncs: Record<TrainingKernelName, (args: Args) => TensorInfo | TensorInfo[]> = {
  Conv2DBackpropFilter: counted('Conv2DBackpropFilter', (backend, { x, dy }: { x: TensorInfo; dy: TensorInfo }, attrs: Conv2DBackpropFilterAttrs) =>
    conv2dBackpropFilter(backend, x, dy, attrs, winogradGradients),
  ),
  Conv2DBackpropInput(args) {
    const backend = args.backend as WasmBackendLike;
    const { dy, filter } = args.inputs as { dy: TensorInfo; filter: TensorInfo };
    const attrs = attrsOf<Conv2DBackpropInputAttrs>(args);
    const fast = conv2dBackpropInput(backend, dy, filter, attrs);
    if (fast !== undefined) {
      count('Conv2DBackpropInput', 'fast');
      return fast;
    }
    count('Conv2DBackpropInput', 'fallback');
    return runOriginal('Conv2DBackpropInput', args) ?? referenceConv2dBackpropInput(backend, dy, filter, attrs);
  },
  UnsortedSegmentSum: counted(
    'UnsortedSegmentSum',
    (backend, { x, segmentIds }: { x: TensorInfo; segmentIds: TensorInfo }, { numSegments }: UnsortedSegmentSumAttrs) =>
      unsortedSegmentSum(backend, x, segmentIds, numSegments),
  ),
  DepthwiseConv2dNativeBackpropFilter: counted(
    'DepthwiseConv2dNativeBackpropFilter',
    (backend, { x, dy }: { x: TensorInfo; dy: TensorInfo }, attrs: DepthwiseConv2dNativeBackpropFilterAttrs) =>
      depthwiseBackpropFilter(backend, x, dy, attrs),
  ),
  DepthwiseConv2dNativeBackpropInput: counted(
    'DepthwiseConv2dNativeBackpropInput',
    (backend, { dy, filter }: { dy: TensorInfo; filter: TensorInfo }, attrs: DepthwiseConv2dNativeBackpropInputAttrs) =>
      depthwiseBackpropInput(backend, dy, filter, attrs),
  ),
  BatchMatMul(args) {
    const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
    const { out, path } = batchMatMul(args.backend as WasmBackendLike, a, b, attrsOf<BatchMatMulAttrs>(args), (inputs, attrs) => {
      const result = runOriginal('BatchMatMul', { ...args, inputs, attrs: attrs as unknown as NamedAttrMap });
      if (result === undefined) {
        throw new RuntimeError('wasm-kernel-missing', "registerTrainingKernels: the wasm backend must provide the 'BatchMatMul' kernel, got none registered");
      }
      return result;
    });
    count('BatchMatMul', path);
    return out;
  },
  _FusedMatMul(args) {
    const { out, path } = fusedMatMul(args.backend as WasmBackendLike, args.inputs as unknown as FusedMatMulInputs, attrsOf<_FusedMatMulAttrs>(args), () => {
      const result = runOriginal('_FusedMatMul', args);
      if (result === undefined) {
        throw new RuntimeError('wasm-kernel-missing', "registerTrainingKernels: the wasm backend must provide the '_FusedMatMul' kernel, got none registered");
      }
      return result;
    });
    count('_FusedMatMul', path);
    return out;
  },
  [normKernelName]: direct(normKernelName, (backend, { x, gamma, beta }: NormInputs, attrs: NormKernelAttrs) => normForward(backend, x, gamma, beta, attrs)),
  [normGradKernelName]: direct(normGradKernelName, (backend, inputs: NormGradInputs, attrs: NormKernelAttrs) => normBackward(backend, inputs, attrs)),
  [upsampleKernelName]: direct(upsampleKernelName, (backend, { x }: { x: TensorInfo }) => upsampleNearest2x(backend, x)),
  [upsampleGradKernelName]: direct(upsampleGradKernelName, (backend, { dy }: { dy: TensorInfo }) => upsampleNearest2xGrad(backend, dy)),
  [geluKernelName]: direct(geluKernelName, (backend, { x }: { x: TensorInfo }) => geluForward(backend, x)),
  [geluGradKernelName]: direct(geluGradKernelName, (backend, { dy, x }: { dy: TensorInfo; x: TensorInfo }) => geluBackward(backend, dy, x)),
  Identity(args) {
    const { x } = args.inputs as { x: TensorInfo };
    if (x.dtype === 'string') {
      count('Identity', 'fallback');
      const result = runOriginal('Identity', args);
      if (result === undefined) {
        throw new RuntimeError('wasm-kernel-missing', "registerTrainingKernels: the wasm backend must provide the 'Identity' kernel, got none registered");
      }
      return result;
    }
    count('Identity', 'fast');
    return reshape(args.backend as WasmBackendLike, x, [...x.shape]);
  },
  Conv2D: forwardConvolution('Conv2D'),
  FusedConv2D: forwardConvolution('FusedConv2D'),
  Sum(args) {
    const { x } = args.inputs as { x: TensorInfo };
    const { out, path } = sumLeadingAxes(args.backend as WasmBackendLike, x, attrsOf<SumAttrs>(args), () => {
      const result = runOriginal('Sum', args);
      if (result === undefined) {
        throw new RuntimeError('wasm-kernel-missing', "registerTrainingKernels: the wasm backend must provide the 'Sum' kernel, got none registered");
      }
      return result;
    });
    count('Sum', path);
    return out;
  },
};

function configFor(name: TrainingKernelName): KernelConfig {
  let config = configs.get(name);
  if (config === undefined) {
    config = { kernelName: name, backendName, kernelFunc: kernelFuncs[name] as unknown as KernelFunc };
    configs.set(name, config);
  }
  return config;
}

function isOurs(name: TrainingKernelName): boolean {
  return tf.getKernel(name, backendName) === configs.get(name) && configs.has(name);
}

/** Registration state and call counts of each training kernel. */
export function trainingKernelStatus(): TrainingKernelStatus {
  const status = {} as Record<TrainingKernelName, TrainingKernelState>;
  for (const name of trainingKernelNames) {
    const calls = counters.get(name) ?? { fast: 0, fallback: 0 };
    status[name] = {
      registered: isOurs(name),
      replacedOriginal: originals.has(name),
      fastCalls: calls.fast,
      fallbackCalls: calls.fallback,
    };
  }
  return status;
}

/**
 * Install the training kernels on the 'wasm' backend (and only there): the weight gradients wasm
 * lacks, a fast input gradient (also the conv-transpose forward), gather's gradient and the
 * depthwise gradients, each built from wasm's XNNPACK convolution, transpose, pad and scatter,
 * with a correct fallback where the fast path does not apply; and, unless `fused: false`, the
 * layer kernels: @gq/nn's fused ones (normalisation + affine + SiLU, ×2 upsampling, GELU, forward
 * and gradient) and BatchMatMul / _FusedMatMul on a SIMD GEMM (linear and attention products and
 * their gradients). Call it once the wasm backend package is loaded (e.g. after
 * `useBackend('wasm')`). Idempotent: a second call registers nothing.
 *
 * @throws RuntimeError `wasm-not-loaded` when no wasm kernels are registered yet.
 */
export function registerTrainingKernels(options: RegisterTrainingKernelsOptions = {}): TrainingKernelStatus {
  if (tf.getKernel('Conv2D', backendName) === undefined) {
    throw new RuntimeError(
      'wasm-not-loaded',
      "registerTrainingKernels: the wasm backend must be loaded first (call useBackend('wasm')), got no 'wasm' kernels registered",
    );
  }
  const skipped: readonly TrainingKernelName[] = options.fused === false ? layerKernelNames : options.winograd === false ? winogradKernelNames : [];
  winogradGradients = options.fused !== false && options.winograd !== false;
  gemmArithmetic.fusedMultiplyAdd = options.fusedMultiplyAdd !== false;
  unregister(skipped);
  for (const name of trainingKernelNames) {
    if (isOurs(name) || skipped.includes(name)) continue;
    const existing = tf.getKernel(name, backendName);
    if (existing !== undefined) {
      originals.set(name, existing);
      tf.unregisterKernel(name, backendName);
    }
    tf.registerKernel(configFor(name));
    counters.set(name, { fast: 0, fallback: 0 });
  }
  return trainingKernelStatus();
}

/** Remove the training kernels and put back the wasm kernels they replaced. Idempotent. */
export function unregisterTrainingKernels(): TrainingKernelStatus {
  unregister(trainingKernelNames);
  return trainingKernelStatus();
}

function unregister(names: readonly TrainingKernelName[]): void {
  for (const name of names) {
    if (!isOurs(name)) continue;
    tf.unregisterKernel(name, backendName);
    const original = originals.get(name);
    if (original !== undefined) {
      tf.registerKernel(original);
      originals.delete(name);
    }
  }
}
