import * as tf from '@tensorflow/tfjs-core';
import type {
  Conv2DBackpropFilterAttrs,
  Conv2DBackpropInputAttrs,
  DepthwiseConv2dNativeBackpropFilterAttrs,
  DepthwiseConv2dNativeBackpropInputAttrs,
  TensorInfo,
} from '@tensorflow/tfjs-core';
import { referenceBackpropFilter, referenceBackpropInput, type ConvGeometry } from './reference.js';
import {
  conv2d,
  depthwiseConv2d,
  explicitPad,
  flipFilter,
  release,
  reshape,
  runWasmKernel,
  slice,
  sumAxis,
  transpose,
  zeroInsert,
  zeroPad,
  type WasmBackendLike,
} from './wasm-ops.js';

type ConvInfo = tf.backend_util.Conv2DInfo;

/** Float32 elements in one weight-gradient GEMM's left-hand block (64 MiB). */
const maxBlockElements = 16 * 1024 * 1024;

/** Which path a kernel call took; counted for `trainingKernelStatus()`. */
export type KernelPath = 'fast' | 'fallback';

function geometry(info: ConvInfo, depthwise: boolean, dyShape: readonly number[]): ConvGeometry {
  const channelsLast = info.dataFormat === 'channelsLast';
  // The gradient's spatial size is dy's, which can differ from the recomputed one under dimRoundingMode.
  const outHeight = channelsLast ? dyShape[1]! : dyShape[2]!;
  const outWidth = channelsLast ? dyShape[2]! : dyShape[3]!;
  return {
    batch: info.batchSize,
    inHeight: info.inHeight,
    inWidth: info.inWidth,
    inChannels: info.inChannels,
    outHeight,
    outWidth,
    outChannels: info.outChannels,
    filterHeight: info.filterHeight,
    filterWidth: info.filterWidth,
    strideHeight: info.strideHeight,
    strideWidth: info.strideWidth,
    dilationHeight: info.dilationHeight,
    dilationWidth: info.dilationWidth,
    padTop: info.padInfo.top,
    padLeft: info.padInfo.left,
    channelsLast,
    depthwise,
  };
}

/** Geometry of a regular-conv gradient: its attrs carry a data format and no dilations (always 1). */
function convGeometry(
  inShape: readonly number[],
  filterShape: readonly number[],
  attrs: Conv2DBackpropFilterAttrs | Conv2DBackpropInputAttrs,
  dyShape: readonly number[],
): ConvGeometry {
  const info = tf.backend_util.computeConv2DInfo(
    inShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    tf.backend_util.convertConv2DDataFormat(attrs.dataFormat),
  );
  return geometry(info, false, dyShape);
}

/** Geometry of a depthwise gradient: its attrs carry dilations and no data format (always NHWC). */
function depthwiseGeometry(
  inShape: readonly number[],
  filterShape: readonly number[],
  attrs: DepthwiseConv2dNativeBackpropFilterAttrs | DepthwiseConv2dNativeBackpropInputAttrs,
  dyShape: readonly number[],
): ConvGeometry {
  const info = tf.backend_util.computeConv2DInfo(
    inShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides,
    attrs.dilations,
    attrs.pad,
    attrs.dimRoundingMode,
    true,
  );
  return geometry(info, true, dyShape);
}

function fastPathApplies(g: ConvGeometry): boolean {
  return g.channelsLast && g.dilationHeight === 1 && g.dilationWidth === 1 && g.batch > 0;
}

/**
 * Weight gradient of a regular conv as k_h XNNPACK matrix products, one per filter row:
 * dW[ky] (as [kw·Ci, Co]) = X_ky · dy, with dy as [L, Co] over L output positions and row
 * (kx, ci) of X_ky holding x[b, oy·s + ky − pad, ox·s + kx − pad, ci] (zero outside the image)
 * for every position. dy is the right-hand matrix of every product, so XNNPACK packs it once
 * (wasm caches packed matrices by tensor id), and each product is a well-shaped GEMM with K = L,
 * which runs several times faster than the equivalent large-kernel dilated convolution.
 *
 * x is made channel-first with one 2-D transpose (wasm's rank > 2 transposes are slow). With
 * stride 1 the positions are a zero-padded grid covering every tap, so each X row is one
 * contiguous plane moved by a constant offset (a memcpy); dy is zero-padded to the same grid, so
 * positions that wrap into the next image row or image meet zero gradient. With larger strides
 * the rows are gathered element by element over the exact Ho×Wo positions.
 */
function matmulBackpropFilter(backend: WasmBackendLike, x: TensorInfo, dy: TensorInfo, g: ConvGeometry): TensorInfo {
  const { batch, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels, filterHeight, filterWidth } = g;
  const { strideHeight: sh, strideWidth: sw, padTop, padLeft } = g;
  const unitStride = sh === 1 && sw === 1;
  const gridHeight = unitStride ? Math.max(outHeight + filterHeight - 1, padTop + inHeight) : outHeight;
  const gridWidth = unitStride ? Math.max(outWidth + filterWidth - 1, padLeft + inWidth) : outWidth;
  const positions = batch * gridHeight * gridWidth;

  const source = unitStride ? padSpatial(backend, x, padTop, gridHeight - padTop - inHeight, padLeft, gridWidth - padLeft - inWidth) : reshape(backend, x, x.shape);
  const pixels = source.shape[0]! * source.shape[1]! * source.shape[2]!;
  const rows = reshape(backend, source, [pixels, inChannels]);
  const planes = transpose(backend, rows, [1, 0]);
  release(backend, source, rows);
  const dyPadded = padSpatial(backend, dy, 0, gridHeight - outHeight, 0, gridWidth - outWidth);
  const dyRows = reshape(backend, dyPadded, [positions, outChannels]);
  release(backend, dyPadded);

  const rowsPerFilterRow = filterWidth * inChannels;
  // Bound the left-hand matrix (the im2col of one filter row) to ~64 MB of wasm heap; wider
  // layers are done a block of (kx, ci) rows at a time, each a contiguous block of dW.
  const rowsPerBlock = Math.max(1, Math.min(rowsPerFilterRow, Math.floor(maxBlockElements / positions)));
  const out = backend.makeOutput([filterHeight, filterWidth, inChannels, outChannels], 'float32');
  for (let ky = 0; ky < filterHeight; ky++) {
    for (let first = 0; first < rowsPerFilterRow; first += rowsPerBlock) {
      const count = Math.min(rowsPerBlock, rowsPerFilterRow - first);
      const taps = backend.makeOutput([count, positions], 'float32');
      // Views are taken after every allocation: growing the wasm heap detaches old ones.
      const target = backend.typedArrayFromHeap(taps);
      const plane = backend.typedArrayFromHeap(planes);
      for (let r = 0; r < count; r++) {
        const kx = Math.floor((first + r) / inChannels);
        const ci = (first + r) % inChannels;
        const to = r * positions;
        const from = ci * pixels;
        if (unitStride) {
          const shift = ky * gridWidth + kx;
          target.set(plane.subarray(from + shift, from + positions), to);
          // Shifted-out positions meet only zero dy rows; zero them so no NaN/Inf leaks in.
          target.fill(0, to + positions - shift, to + positions);
        } else {
          gatherStrided(target, to, plane, from, g, ky, kx);
        }
      }
      const product = runWasmKernel('BatchMatMul', backend, { a: taps, b: dyRows }, { transposeA: false, transposeB: false });
      backend.typedArrayFromHeap(out).set(backend.typedArrayFromHeap(product), (ky * rowsPerFilterRow + first) * outChannels);
      release(backend, product, taps);
    }
  }
  release(backend, planes, dyRows);
  return out;
}

/** target[to + (b, oy, ox)] = x[b, oy·sh + ky − pt, ox·sw + kx − pl] of one channel plane, 0 outside. */
function gatherStrided(
  target: tf.backend_util.TypedArray,
  to: number,
  plane: tf.backend_util.TypedArray,
  from: number,
  g: ConvGeometry,
  ky: number,
  kx: number,
): void {
  const { batch, inHeight, inWidth, outHeight, outWidth, strideHeight, strideWidth } = g;
  const firstX = kx - g.padLeft;
  for (let b = 0; b < batch; b++) {
    for (let oy = 0; oy < outHeight; oy++) {
      const row = to + (b * outHeight + oy) * outWidth;
      const iy = oy * strideHeight + ky - g.padTop;
      if (iy < 0 || iy >= inHeight) {
        target.fill(0, row, row + outWidth);
        continue;
      }
      const sourceRow = from + (b * inHeight + iy) * inWidth;
      for (let ox = 0, ix = firstX; ox < outWidth; ox++, ix += strideWidth) {
        target[row + ox] = ix >= 0 && ix < inWidth ? plane[sourceRow + ix] : 0;
      }
    }
  }
}

/** Zero-pad the two spatial axes of an NHWC tensor; returns the input itself (one more reference) when no padding is needed. */
function padSpatial(backend: WasmBackendLike, x: TensorInfo, top: number, bottom: number, left: number, right: number): TensorInfo {
  if (top === 0 && bottom === 0 && left === 0 && right === 0) return reshape(backend, x, x.shape);
  return zeroPad(backend, x, explicitPad(top, bottom, left, right));
}

/**
 * Depthwise weight gradient as one XNNPACK depthwise convolution. Each channel c has its own
 * filter, so the (c, b) pairs become the channels of a single image x' = [1, H, W, C·B], and dy
 * becomes a [Ho, Wo, C·B, M] filter dilated by the forward stride: output pixel (kh, kw) of
 * channel (c, b), multiplier m, is Σ_{h,w} x[b, h·s + kh − pad, w·s + kw − pad, c] ·
 * dy[b, h, w, c·M + m], which summed over b is dW[kh, kw, c, m]. The far padding is chosen so the
 * output is exactly the filter size; when the forward pass ignored trailing input rows it is
 * negative, and the extra output rows are sliced off instead.
 */
function depthwiseFastBackpropFilter(backend: WasmBackendLike, x: TensorInfo, dy: TensorInfo, g: ConvGeometry): TensorInfo {
  const { batch, inHeight, inWidth, inChannels, outHeight, outWidth, filterHeight, filterWidth } = g;
  const farPad = (filterSize: number, inSize: number, near: number, outSize: number, stride: number): number =>
    filterSize - inSize - near + (outSize - 1) * stride;
  const bottom = farPad(filterHeight, inHeight, g.padTop, outHeight, g.strideHeight);
  const right = farPad(filterWidth, inWidth, g.padLeft, outWidth, g.strideWidth);
  const pad = explicitPad(g.padTop, Math.max(0, bottom), g.padLeft, Math.max(0, right));
  const multiplier = g.outChannels / inChannels;

  const xT = transpose(backend, x, [1, 2, 3, 0]);
  const xImage = reshape(backend, xT, [1, inHeight, inWidth, inChannels * batch]);
  const dy5 = reshape(backend, dy, [batch, outHeight, outWidth, inChannels, multiplier]);
  const dyT = transpose(backend, dy5, [1, 2, 3, 0, 4]);
  const dyFilter = reshape(backend, dyT, [outHeight, outWidth, inChannels * batch, multiplier]);
  let grad = depthwiseConv2d(backend, xImage, dyFilter, [1, 1], [g.strideHeight, g.strideWidth], pad);
  release(backend, xT, xImage, dy5, dyT, dyFilter);
  if (bottom < 0 || right < 0) {
    const trimmed = slice(backend, grad, [0, 0, 0, 0], [1, filterHeight, filterWidth, grad.shape[3]!]);
    release(backend, grad);
    grad = trimmed;
  }
  const perBatch = reshape(backend, grad, [filterHeight, filterWidth, inChannels, batch, multiplier]);
  release(backend, grad);
  const out = sumAxis(backend, perBatch, 3);
  release(backend, perBatch);
  return out;
}

/** One stride phase along one axis of a strided input gradient; see `subPixelBackpropInput`. */
interface AxisPhase {
  /** Output rows i = q·s + phase for q < count. */
  readonly count: number;
  /** Filter taps k = first + t·s, t < taps (0: this phase gets no gradient). */
  readonly first: number;
  readonly taps: number;
  readonly padBefore: number;
  readonly padAfter: number;
}

function axisPhases(inSize: number, outSize: number, filterSize: number, stride: number, pad: number): AxisPhase[] | undefined {
  const phases: AxisPhase[] = [];
  for (let phase = 0; phase < stride; phase++) {
    const count = Math.ceil((inSize - phase) / stride);
    const first = (phase + pad) % stride;
    const taps = first < filterSize ? Math.ceil((filterSize - first) / stride) : 0;
    // dx[q·s + phase] = Σ_t dy[q + offset − t] · W[first + t·s]: a stride-1 correlation of dy with
    // the reversed sub-filter, padded by (taps − 1 − offset) before and whatever gives `count`
    // outputs after.
    const offset = Math.floor((phase + pad) / stride);
    const padBefore = taps - 1 - offset;
    const padAfter = count - outSize - padBefore + taps - 1;
    if (taps > 0 && count > 0 && (padBefore < 0 || padAfter < 0)) return undefined;
    phases.push({ count, first, taps, padBefore, padAfter });
  }
  return phases;
}

/**
 * Strided input gradient without multiplying zeros: output pixels in stride phase (r_h, r_w) only
 * see filter taps congruent to (r + pad) mod s, so each phase is a stride-1 XNNPACK conv of dy
 * with that reversed, channel-swapped sub-filter (1/s² of the taps), and the s² results are
 * interleaved into dx. Zero insertion would spend s² times the FLOPs on zeros. Returns undefined
 * when a phase would need negative padding.
 */
function subPixelBackpropInput(backend: WasmBackendLike, dy: TensorInfo, filter: TensorInfo, g: ConvGeometry): TensorInfo | undefined {
  const rows = axisPhases(g.inHeight, g.outHeight, g.filterHeight, g.strideHeight, g.padTop);
  const columns = axisPhases(g.inWidth, g.outWidth, g.filterWidth, g.strideWidth, g.padLeft);
  if (rows === undefined || columns === undefined) return undefined;
  const { batch, inHeight, inWidth, inChannels: ci, outChannels: co, filterWidth, strideHeight: sh, strideWidth: sw } = g;
  const out = backend.makeOutput([batch, inHeight, inWidth, ci], 'float32');
  backend.typedArrayFromHeap(out).fill(0);
  for (let rh = 0; rh < sh; rh++) {
    for (let rw = 0; rw < sw; rw++) {
      const row = rows[rh]!;
      const column = columns[rw]!;
      if (row.taps === 0 || column.taps === 0 || row.count === 0 || column.count === 0) continue;
      const sub = backend.makeOutput([row.taps, column.taps, co, ci], 'float32');
      const subValues = backend.typedArrayFromHeap(sub);
      const weights = backend.typedArrayFromHeap(filter);
      for (let t = 0; t < row.taps; t++) {
        const ky = row.first + (row.taps - 1 - t) * sh;
        for (let u = 0; u < column.taps; u++) {
          const kx = column.first + (column.taps - 1 - u) * sw;
          const from = (ky * filterWidth + kx) * ci * co;
          const to = (t * column.taps + u) * co * ci;
          for (let i = 0; i < ci; i++) {
            for (let o = 0; o < co; o++) subValues[to + o * ci + i] = weights[from + i * co + o];
          }
        }
      }
      const pad = explicitPad(row.padBefore, row.padAfter, column.padBefore, column.padAfter);
      const phase = conv2d(backend, dy, sub, [1, 1], [1, 1], pad);
      const source = backend.typedArrayFromHeap(phase);
      const target = backend.typedArrayFromHeap(out);
      for (let b = 0; b < batch; b++) {
        for (let q = 0; q < row.count; q++) {
          const targetRow = (b * inHeight + q * sh + rh) * inWidth;
          const sourceRow = (b * row.count + q) * column.count;
          for (let p = 0; p < column.count; p++) {
            const from = (sourceRow + p) * ci;
            target.set(source.subarray(from, from + ci), (targetRow + p * sw + rw) * ci);
          }
        }
      }
      release(backend, sub, phase);
    }
  }
  return out;
}

/**
 * Input gradient (and conv-transpose forward) as zero insertion plus one stride-1 XNNPACK
 * convolution with the spatially flipped filter (in/out channels swapped for a regular conv).
 * Near padding is k − 1 − pad; far padding makes the output the input's size, slicing when the
 * inserted trailing zeros overshoot. Returns undefined when the near padding would be negative
 * (explicit padding wider than the filter), which XNNPACK cannot express.
 */
function fastBackpropInput(
  backend: WasmBackendLike,
  dy: TensorInfo,
  filter: TensorInfo,
  g: ConvGeometry,
  depthwise: boolean,
): TensorInfo | undefined {
  const top = g.filterHeight - 1 - g.padTop;
  const left = g.filterWidth - 1 - g.padLeft;
  if (top < 0 || left < 0) return undefined;
  const bottom = g.inHeight + g.padTop - g.outHeight * g.strideHeight;
  const right = g.inWidth + g.padLeft - g.outWidth * g.strideWidth;
  const strided = g.strideHeight > 1 || g.strideWidth > 1;
  const upsampled = strided ? zeroInsert(backend, dy, g.strideHeight, g.strideWidth) : dy;
  const flipped = flipFilter(backend, filter, !depthwise);
  const pad = explicitPad(top, Math.max(0, bottom), left, Math.max(0, right));
  let out = depthwise
    ? depthwiseConv2d(backend, upsampled, flipped, [1, 1], [1, 1], pad)
    : conv2d(backend, upsampled, flipped, [1, 1], [1, 1], pad);
  release(backend, flipped);
  if (strided) release(backend, upsampled);
  if (bottom < 0 || right < 0) {
    const trimmed = slice(backend, out, [0, 0, 0, 0], [out.shape[0]!, g.inHeight, g.inWidth, out.shape[3]!]);
    release(backend, out);
    out = trimmed;
  }
  const multiplier = g.outChannels / g.inChannels;
  if (depthwise && multiplier > 1) {
    const split = reshape(backend, out, [g.batch, g.inHeight, g.inWidth, g.inChannels, multiplier]);
    release(backend, out);
    out = sumAxis(backend, split, 4);
    release(backend, split);
  }
  return out;
}

export interface KernelResult {
  readonly out: TensorInfo;
  readonly path: KernelPath;
}

export function conv2dBackpropFilter(backend: WasmBackendLike, x: TensorInfo, dy: TensorInfo, attrs: Conv2DBackpropFilterAttrs): KernelResult {
  const g = convGeometry(x.shape, attrs.filterShape, attrs, dy.shape);
  if (fastPathApplies(g)) return { out: matmulBackpropFilter(backend, x, dy, g), path: 'fast' };
  return { out: referenceBackpropFilter(backend, x, dy, g), path: 'fallback' };
}

/**
 * Returns undefined where the fast path does not apply, so the caller can hand the call to wasm's
 * own native kernel.
 */
export function conv2dBackpropInput(
  backend: WasmBackendLike,
  dy: TensorInfo,
  filter: TensorInfo,
  attrs: Conv2DBackpropInputAttrs,
): TensorInfo | undefined {
  const g = convGeometry(attrs.inputShape, filter.shape, attrs, dy.shape);
  if (!fastPathApplies(g)) return undefined;
  if (g.strideHeight > 1 || g.strideWidth > 1) {
    const out = subPixelBackpropInput(backend, dy, filter, g);
    if (out !== undefined) return out;
  }
  return fastBackpropInput(backend, dy, filter, g, false);
}

/** The plain-JS input gradient, for backends or layouts the fast path and wasm's kernel both miss. */
export function referenceConv2dBackpropInput(
  backend: WasmBackendLike,
  dy: TensorInfo,
  filter: TensorInfo,
  attrs: Conv2DBackpropInputAttrs,
): TensorInfo {
  return referenceBackpropInput(backend, dy, filter, convGeometry(attrs.inputShape, filter.shape, attrs, dy.shape), attrs.inputShape);
}

export function depthwiseBackpropFilter(
  backend: WasmBackendLike,
  x: TensorInfo,
  dy: TensorInfo,
  attrs: DepthwiseConv2dNativeBackpropFilterAttrs,
): KernelResult {
  const g = depthwiseGeometry(x.shape, attrs.filterShape, attrs, dy.shape);
  if (fastPathApplies(g)) return { out: depthwiseFastBackpropFilter(backend, x, dy, g), path: 'fast' };
  return { out: referenceBackpropFilter(backend, x, dy, g), path: 'fallback' };
}

export function depthwiseBackpropInput(
  backend: WasmBackendLike,
  dy: TensorInfo,
  filter: TensorInfo,
  attrs: DepthwiseConv2dNativeBackpropInputAttrs,
): KernelResult {
  const g = depthwiseGeometry(attrs.inputShape, filter.shape, attrs, dy.shape);
  if (fastPathApplies(g)) {
    const out = fastBackpropInput(backend, dy, filter, g, true);
    if (out !== undefined) return { out, path: 'fast' };
  }
  return { out: referenceBackpropInput(backend, dy, filter, g, attrs.inputShape), path: 'fallback' };
}
