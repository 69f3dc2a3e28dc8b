import * as tf from '@tensorflow/tfjs-core';
import type { NamedAttrMap, TensorInfo } from '@tensorflow/tfjs-core';
import { RuntimeError } from '../errors.js';

/**
 * The parts of tfjs-backend-wasm's `BackendWasm` the training kernels use. Declared structurally so
 * that this module needs no import of the backend package (registration happens at run time).
 */
export interface WasmBackendLike {
  makeOutput(shape: number[], dtype: tf.DataType): TensorInfo;
  typedArrayFromHeap(info: TensorInfo): tf.backend_util.TypedArray;
  disposeData(dataId: tf.DataId, force?: boolean): boolean;
}

/** One 4-D explicit padding in tfjs's layout: [[0,0],[top,bottom],[left,right],[0,0]] for NHWC. */
export type ExplicitPad = [[number, number], [number, number], [number, number], [number, number]];

export function explicitPad(top: number, bottom: number, left: number, right: number): ExplicitPad {
  return [
    [0, 0],
    [top, bottom],
    [left, right],
    [0, 0],
  ];
}

/**
 * Runs another wasm kernel directly on backend data. This skips the engine (no tape, no tensor
 * bookkeeping), so the caller owns the returned TensorInfo and must release it with `release`
 * unless it is the kernel's own output.
 */
export function runWasmKernel(
  kernelName: string,
  backend: WasmBackendLike,
  inputs: Record<string, TensorInfo>,
  attrs: NamedAttrMap = {},
): TensorInfo {
  const config = tf.getKernel(kernelName, 'wasm');
  if (config === undefined) {
    throw new RuntimeError(
      'wasm-kernel-missing',
      `registerTrainingKernels: the wasm backend must provide the '${kernelName}' kernel, got none registered`,
    );
  }
  const out = config.kernelFunc({ inputs, backend, attrs });
  return Array.isArray(out) ? out[0] : out;
}

/** Drop one reference to a TensorInfo produced inside a kernel. */
export function release(backend: WasmBackendLike, ...infos: TensorInfo[]): void {
  for (const info of infos) backend.disposeData(info.dataId);
}

export function reshape(backend: WasmBackendLike, x: TensorInfo, shape: number[]): TensorInfo {
  return runWasmKernel('Reshape', backend, { x }, { shape });
}

export function transpose(backend: WasmBackendLike, x: TensorInfo, perm: number[]): TensorInfo {
  return runWasmKernel('Transpose', backend, { x }, { perm });
}

export function slice(backend: WasmBackendLike, x: TensorInfo, begin: number[], size: number[]): TensorInfo {
  return runWasmKernel('Slice', backend, { x }, { begin, size });
}

export function sumAxis(backend: WasmBackendLike, x: TensorInfo, axis: number): TensorInfo {
  return runWasmKernel('Sum', backend, { x }, { axis: [axis], keepDims: false });
}

/** A stride/dilation/explicit-padding NHWC convolution run on backend data. */
export type NhwcConvolution = (
  backend: WasmBackendLike,
  x: TensorInfo,
  filter: TensorInfo,
  strides: [number, number],
  dilations: [number, number],
  pad: ExplicitPad,
) => TensorInfo;

function nhwcConvolution(kernelName: 'Conv2D' | 'DepthwiseConv2dNative'): NhwcConvolution {
  return (backend, x, filter, strides, dilations, pad) =>
    runWasmKernel(kernelName, backend, { x, filter }, {
      strides,
      dilations,
      pad,
      dataFormat: 'NHWC',
      dimRoundingMode: undefined,
    } as unknown as NamedAttrMap);
}

/** XNNPACK convolution (NHWC, filter [kh, kw, in, out]) with explicit padding. */
export const conv2d = nhwcConvolution('Conv2D');

/** XNNPACK depthwise convolution (NHWC, filter [kh, kw, channels, multiplier]) with explicit padding. */
export const depthwiseConv2d = nhwcConvolution('DepthwiseConv2dNative');

/** Constant-zero padding of every axis by [before, after] pairs (wasm's native PadV2). */
export function zeroPad(backend: WasmBackendLike, x: TensorInfo, paddings: Array<[number, number]>): TensorInfo {
  return runWasmKernel('PadV2', backend, { x }, { paddings, constantValue: 0 } as unknown as NamedAttrMap);
}

/**
 * Insert (stride − 1) zero rows/columns after every row/column of an NHWC tensor, giving
 * [B, H·sh, W·sw, C]: a free reshape to [B, H, 1, W, 1, C] and one native pad.
 */
export function zeroInsert(backend: WasmBackendLike, x: TensorInfo, strideHeight: number, strideWidth: number): TensorInfo {
  const [batch, height, width, channels] = x.shape as [number, number, number, number];
  const expanded = reshape(backend, x, [batch, height, 1, width, 1, channels]);
  const padded = zeroPad(backend, expanded, [
    [0, 0],
    [0, 0],
    [0, strideHeight - 1],
    [0, 0],
    [0, strideWidth - 1],
    [0, 0],
  ]);
  release(backend, expanded);
  const out = reshape(backend, padded, [batch, height * strideHeight, width * strideWidth, channels]);
  release(backend, padded);
  return out;
}

/**
 * A spatially flipped copy of a [kh, kw, a, b] filter, written as [kh, kw, b, a] when `swap` is set
 * (the input-gradient filter of a regular conv) or kept as [kh, kw, a·b, 1] when not (depthwise,
 * whose channel order c·M + m matches the forward output channels). One pass over a small tensor.
 */
export function flipFilter(backend: WasmBackendLike, filter: TensorInfo, swap: boolean): TensorInfo {
  const [kh, kw, a, b] = filter.shape as [number, number, number, number];
  const out = backend.makeOutput(swap ? [kh, kw, b, a] : [kh, kw, a * b, 1], 'float32');
  // Views are taken after makeOutput: an allocation may grow (and detach) the wasm heap.
  const source = backend.typedArrayFromHeap(filter);
  const target = backend.typedArrayFromHeap(out);
  const tap = a * b;
  for (let y = 0; y < kh; y++) {
    for (let x = 0; x < kw; x++) {
      const from = ((kh - 1 - y) * kw + (kw - 1 - x)) * tap;
      const to = (y * kw + x) * tap;
      if (swap) {
        for (let i = 0; i < a; i++) {
          for (let o = 0; o < b; o++) target[to + o * a + i] = source[from + i * b + o];
        }
      } else {
        for (let k = 0; k < tap; k++) target[to + k] = source[from + k];
      }
    }
  }
  return out;
}

/** The tfjs wasm backend's emscripten module, as far as the heap-reading kernels look into it. */
interface EmscriptenLike {
  readonly asm?: { readonly memory?: unknown };
  readonly HEAPU8?: Uint8Array;
}

/**
 * The wasm backend's heap memory, or `undefined` where it is not reachable (or the emscripten heap
 * views do not lie on it): the memory the SIMD kernels import to read and write tensors in place.
 */
export function backendMemory(backend: WasmBackendLike): WebAssembly.Memory | undefined {
  const wasm = (backend as unknown as { wasm?: EmscriptenLike }).wasm;
  const memory = wasm?.asm?.memory;
  if (!(memory instanceof WebAssembly.Memory)) return undefined;
  return wasm?.HEAPU8 === undefined || wasm.HEAPU8.buffer === memory.buffer ? memory : undefined;
}
