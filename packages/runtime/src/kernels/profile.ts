import * as tf from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, NamedAttrMap, NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs-core';

/** Time and call count of one kernel name while a profile was recording. */
export interface KernelTiming {
  readonly kernel: string;
  readonly calls: number;
  /** Wall ms spent inside the kernel function, outermost calls only (a kernel run by another kernel counts to the caller). */
  readonly ms: number;
  /**
   * Floating-point operations of the calls (2 per multiply–add, from the shapes: `kernelFlops`);
   * 0 for kernels outside `convolutionKernelNames`.
   */
  readonly flops: number;
}

/** A running per-kernel profile of one backend (see `profileKernels`). */
export interface KernelProfile {
  /** Timings since the last `reset`, most expensive first. */
  read(): KernelTiming[];
  /** Forget what was recorded so far. */
  reset(): void;
  /** Put the unwrapped kernels back. Idempotent. */
  stop(): void;
}

/**
 * Kernels that do the model's multiply–accumulate work: XNNPACK convolutions and matrix
 * products, and the training kernels built from them.
 */
export const convolutionKernelNames: ReadonlySet<string> = new Set([
  'Conv2D',
  'FusedConv2D',
  'DepthwiseConv2dNative',
  'FusedDepthwiseConv2D',
  'Conv2DBackpropFilter',
  'Conv2DBackpropInput',
  'DepthwiseConv2dNativeBackpropFilter',
  'DepthwiseConv2dNativeBackpropInput',
  'BatchMatMul',
  '_FusedMatMul',
]);

const product = (values: readonly number[]): number => values.reduce((a, b) => a * b, 1);

/**
 * Floating-point operations (2 per multiply–add) of one call of a convolution or matrix-product
 * kernel, from its input and output shapes (NHWC; a filter is [kh, kw, Ci, Co], a depthwise one
 * [kh, kw, C, M]); 0 for any other kernel. Every gradient does the forward operation's work:
 * - Conv2D, FusedConv2D: 2·N·Ho·Wo·Co · kh·kw·Ci;
 * - Conv2DBackpropInput (dy, filter) and Conv2DBackpropFilter (x, dy; filter shape in attrs): the same;
 * - depthwise: 2·N·Ho·Wo·C·M · kh·kw;
 * - BatchMatMul, _FusedMatMul: 2 · (batch·M·N of the output) · K.
 */
export function kernelFlops(kernel: string, inputs: NamedTensorInfoMap, attrs: NamedAttrMap | undefined, output: TensorInfo): number {
  const shape = (name: string): readonly number[] | undefined => inputs[name]?.shape;
  switch (kernel) {
    case 'Conv2D':
    case 'FusedConv2D': {
      const [kh, kw, ci] = shape('filter') ?? [];
      return 2 * product(output.shape) * kh! * kw! * ci!;
    }
    case 'Conv2DBackpropInput': {
      const [kh, kw, ci] = shape('filter') ?? [];
      return 2 * product(shape('dy') ?? []) * kh! * kw! * ci!;
    }
    case 'Conv2DBackpropFilter': {
      const [kh, kw, ci] = (attrs?.filterShape as number[] | undefined) ?? [];
      return 2 * product(shape('dy') ?? []) * kh! * kw! * ci!;
    }
    case 'DepthwiseConv2dNative':
    case 'FusedDepthwiseConv2D': {
      const [kh, kw] = shape('filter') ?? [];
      return 2 * product(output.shape) * kh! * kw!;
    }
    case 'DepthwiseConv2dNativeBackpropInput': {
      const [kh, kw] = shape('filter') ?? [];
      return 2 * product(shape('dy') ?? []) * kh! * kw!;
    }
    case 'DepthwiseConv2dNativeBackpropFilter': {
      const [kh, kw] = (attrs?.filterShape as number[] | undefined) ?? [];
      return 2 * product(shape('dy') ?? []) * kh! * kw!;
    }
    case 'BatchMatMul':
    case '_FusedMatMul': {
      const a = shape('a') ?? [];
      const k = attrs?.transposeA === true ? a[a.length - 2]! : a[a.length - 1]!;
      return 2 * product(output.shape) * k;
    }
    default:
      return 0;
  }
}

/** Share of the recorded time spent in `convolutionKernelNames`, in [0, 1]. */
export function convolutionShare(timings: readonly KernelTiming[]): number {
  let total = 0;
  let conv = 0;
  for (const t of timings) {
    total += t.ms;
    if (convolutionKernelNames.has(t.kernel)) conv += t.ms;
  }
  return total > 0 ? conv / total : 0;
}

/**
 * Wrap every kernel registered for `backendName` (default 'wasm') so that its calls are counted and
 * timed with `performance.now()`. Kernels on wasm and cpu are synchronous, so the time inside the
 * kernel function is the kernel's time; a kernel that runs others directly (the training kernels)
 * is charged once, as the outermost call. The wrappers stay until `stop()`; kernels registered
 * later (e.g. `registerTrainingKernels`) are wrapped only by a profile started after them.
 */
export function profileKernels(backendName = 'wasm'): KernelProfile {
  const totals = new Map<string, { calls: number; ms: number; flops: number }>();
  const wrapped: Array<{ original: KernelConfig; replacement: KernelConfig }> = [];
  let depth = 0;
  for (const original of tf.getKernelsForBackend(backendName)) {
    const inner = original.kernelFunc;
    const name = original.kernelName;
    const kernelFunc: KernelFunc = (args) => {
      if (depth > 0) return inner(args);
      depth++;
      const start = performance.now();
      let output: TensorInfo | TensorInfo[] | undefined;
      try {
        output = inner(args);
        return output;
      } finally {
        const ms = performance.now() - start;
        depth--;
        const entry = totals.get(name) ?? { calls: 0, ms: 0, flops: 0 };
        entry.calls++;
        entry.ms += ms;
        const first = Array.isArray(output) ? output[0] : output;
        if (first !== undefined && convolutionKernelNames.has(name)) entry.flops += kernelFlops(name, args.inputs, args.attrs, first);
        totals.set(name, entry);
      }
    };
    const replacement: KernelConfig = { ...original, kernelFunc };
    tf.unregisterKernel(name, backendName);
    tf.registerKernel(replacement);
    wrapped.push({ original, replacement });
  }
  let stopped = false;
  return {
    read: () =>
      [...totals.entries()].map(([kernel, { calls, ms, flops }]) => ({ kernel, calls, ms, flops })).sort((a, b) => b.ms - a.ms),
    reset: () => totals.clear(),
    stop() {
      if (stopped) return;
      stopped = true;
      for (const { original, replacement } of wrapped) {
        if (tf.getKernel(original.kernelName, backendName) !== replacement) continue;
        tf.unregisterKernel(original.kernelName, backendName);
        tf.registerKernel(original);
      }
    },
  };
}
