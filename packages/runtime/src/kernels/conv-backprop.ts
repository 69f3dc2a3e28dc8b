import * as tf from '@tensorflow/tfjs-core';
import type {
  Conv2DBackpropFilterAttrs,
  Conv2DBackpropInputAttrs,
  DepthwiseConv2dNativeBackpropFilterAttrs,
  DepthwiseConv2dNativeBackpropInputAttrs,
  TensorInfo,
} from '@tensorflow/tfjs-core';
import { referenceBackpropFilter, referenceBackpropInput, type ConvGeometry } from './reference.js';
import { sameThreeByThree, winogradFilterGradient } from './winograd.js';
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

/**
 * Float32 elements in one weight-gradient GEMM's left-hand chunk (4 MiB). Interleaved timings of
 * the tiny32 UNet's layers (1 thread) found 1 Mi fastest: 2 Mi and 4 Mi were 5 % and 14 % slower
 * overall, 512 Ki no better, and an unbounded im2col 8 % slower. The GEMM alone runs within 10 %
 * of one unsplit product for chunks of 2048 positions or more; what the bound saves is writing and
 * re-reading a large im2col buffer (and holding it: 42 MB for a 32×32×32 layer at batch 32).
 */
const chunkElements = 1024 * 1024;

/** Fewest output positions (GEMM depth K) in a chunk, so layers with very many channels still get deep products. */
const minChunkPositions = 256;

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
 * Weight gradient of a regular conv as XNNPACK matrix products over chunks of output positions:
 * dW (as [kh·kw·Ci, Co]) = Σ_chunks X_chunk · dy_chunk, where dy_chunk is [n, Co] (n positions)
 * and row (ky, kx, ci) of X_chunk holds, for each position (b, oy, ox) of the chunk,
 * x[b, oy·sh + ky − pad, ox·sw + kx − pad, ci] (zero outside the image).
 *
 * Why this shape (measured on the tiny32 UNet's 19 weight-gradient shapes, batch 32, interleaved
 * against the previous kernel, which ran one GEMM per filter row over a zero-padded grid):
 * - XNNPACK's f32 GEMM runs these products at ~25 GFLOPS whatever K is (about the forward
 *   convolution's rate), so the work to cut is multiply–adds on padding and the im2col around the
 *   GEMM, not cache misses in it (splitting K alone, with the same im2col, measured no faster).
 * - Positions are (nearly) exact: the grid is max(out, ⌈in / stride⌉) per axis, not out + k − 1,
 *   so a same-padded layer spends no product on padding positions (the padded grid cost 56 %
 *   extra work at 8×8, 27 % at 16×16, 13 % at 32×32).
 *   A tap then reads its row as one shifted contiguous run of a channel plane (a memcpy, ~8× faster
 *   than an element loop), and the few entries whose read wraps into the neighbouring image row or
 *   image are zeroed afterwards from a per-tap list of runs.
 * - All kh·kw taps go in one product (M = kh·kw·Ci): one product measured 15–20 % faster than
 *   three with kw·Ci rows each.
 * - Chunks of ≤ `chunkElements` left-hand elements keep the im2col buffer small and cache-warm;
 *   each chunk's dy rows are their own tensor because wasm caches the packed right-hand matrix by
 *   tensor id. The partial products are summed in float32.
 * - Strides > 1 use the same path on stride-phase planes: phase (r, q) of a channel holds
 *   x[b, i·sh + r, j·sw + q], so every tap is again a unit-stride shift of one plane.
 *
 * Overall the tiny32 UNet's weight gradients took 28 % less time than with the previous kernel
 * timed alone (sum over its 38 calls of per-shape minima), 16 % less inside whole training steps
 * (medians of interleaved steps).
 */
function matmulBackpropFilter(backend: WasmBackendLike, x: TensorInfo, dy: TensorInfo, g: ConvGeometry): TensorInfo {
  const { batch, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels, filterHeight, filterWidth } = g;
  const { strideHeight: sh, strideWidth: sw } = g;
  const gridHeight = Math.max(outHeight, Math.ceil(inHeight / sh));
  const gridWidth = Math.max(outWidth, Math.ceil(inWidth / sw));
  const positions = batch * gridHeight * gridWidth;
  if (positions === 0) {
    const zeros = backend.makeOutput([filterHeight, filterWidth, inChannels, outChannels], 'float32');
    backend.typedArrayFromHeap(zeros).fill(0);
    return zeros;
  }
  const grid: Grid = { height: gridHeight, width: gridWidth, positions };
  const planes = phasePlanes(backend, x, g, grid);
  const dyPadded = padSpatial(backend, dy, 0, gridHeight - outHeight, 0, gridWidth - outWidth);
  const dyRows = reshape(backend, dyPadded, [positions, outChannels]);
  release(backend, dyPadded);

  const taps = tapSources(g, grid);
  const rows = taps.length * inChannels;
  const chunks = Math.max(1, Math.min(Math.ceil((rows * positions) / chunkElements), Math.floor(positions / minChunkPositions)));
  const size = Math.ceil(positions / chunks);
  // An unpadded stride-1 1×1 filter's left-hand matrix is the channel planes themselves.
  const tap0 = taps[0]!;
  const direct =
    chunks === 1 && taps.length === 1 && sh === 1 && sw === 1 && tap0.shift === 0 &&
    tap0.top <= 0 && tap0.left <= 0 && tap0.bottom >= outHeight && tap0.right >= outWidth;
  let sum: TensorInfo | undefined;
  for (let start = 0; start < positions; start += size) {
    const count = Math.min(size, positions - start);
    const right = chunks === 1 ? dyRows : copyRows(backend, dyRows, start, count, outChannels);
    const left = direct ? planes : gatherTaps(backend, planes, taps, g, grid, start, count);
    const product = runWasmKernel('BatchMatMul', backend, { a: left, b: right }, { transposeA: false, transposeB: false });
    if (!direct) release(backend, left);
    if (chunks > 1) release(backend, right);
    if (sum === undefined) {
      sum = product;
    } else {
      const total = backend.typedArrayFromHeap(sum);
      const part = backend.typedArrayFromHeap(product);
      for (let i = 0; i < part.length; i++) total[i]! += part[i]!;
      release(backend, product);
    }
  }
  release(backend, planes, dyRows);
  const out = reshape(backend, sum!, [filterHeight, filterWidth, inChannels, outChannels]);
  release(backend, sum!);
  return out;
}

/** The positions grid of `matmulBackpropFilter`: position (b, oy, ox) is (b·height + oy)·width + ox. */
interface Grid {
  readonly height: number;
  readonly width: number;
  /** batch · height · width */
  readonly positions: number;
}

/** Where filter tap (ky, kx) reads, and which output positions read outside the image. */
interface TapSource {
  /** First channel plane of the tap's stride phase: (phaseY·sw + phaseX)·Ci. */
  readonly plane: number;
  /** The tap reads plane element p + shift for grid position p. */
  readonly shift: number;
  /** Output rows oy < top or oy ≥ bottom, and columns ox < left or ox ≥ right, read outside the image. */
  readonly top: number;
  readonly bottom: number;
  readonly left: number;
  readonly right: number;
}

/**
 * Tap (ky, kx) at output (oy, ox) reads input row oy·s + ky − pad = (oy + rowShift)·s + phaseY,
 * i.e. row oy + rowShift of phase plane phaseY, which holds ⌈(H − phaseY)/s⌉ input rows.
 */
function tapSources(g: ConvGeometry, grid: Grid): TapSource[] {
  const taps: TapSource[] = [];
  const axis = (offset: number, stride: number, size: number): { phase: number; shift: number; rows: number } => {
    const phase = ((offset % stride) + stride) % stride;
    return { phase, shift: (offset - phase) / stride, rows: Math.max(0, Math.ceil((size - phase) / stride)) };
  };
  for (let ky = 0; ky < g.filterHeight; ky++) {
    const row = axis(ky - g.padTop, g.strideHeight, g.inHeight);
    for (let kx = 0; kx < g.filterWidth; kx++) {
      const column = axis(kx - g.padLeft, g.strideWidth, g.inWidth);
      taps.push({
        plane: (row.phase * g.strideWidth + column.phase) * g.inChannels,
        shift: row.shift * grid.width + column.shift,
        top: -row.shift,
        bottom: row.rows - row.shift,
        left: -column.shift,
        right: column.rows - column.shift,
      });
    }
  }
  return taps;
}

/**
 * x as channel-first planes on the positions grid, [sh·sw·Ci, positions]: plane (phaseY, phaseX, c)
 * holds x[b, i·sh + phaseY, j·sw + phaseX, c] at (b·height + i)·width + j, zero past the image.
 * Stride 1 is one native pad and one 2-D transpose (wasm's rank > 2 transposes are slow: a 6-D
 * one for the phases took ~5× the whole kernel); larger strides split the transposed planes in JS.
 */
function phasePlanes(backend: WasmBackendLike, x: TensorInfo, g: ConvGeometry, grid: Grid): TensorInfo {
  const { batch, inHeight, inWidth, inChannels, strideHeight: sh, strideWidth: sw } = g;
  if (sh === 1 && sw === 1) {
    const padded = padSpatial(backend, x, 0, grid.height - inHeight, 0, grid.width - inWidth);
    const rows = reshape(backend, padded, [grid.positions, inChannels]);
    const planes = transpose(backend, rows, [1, 0]);
    release(backend, padded, rows);
    return planes;
  }
  const rows = reshape(backend, x, [batch * inHeight * inWidth, inChannels]);
  const channelFirst = transpose(backend, rows, [1, 0]);
  release(backend, rows);
  const planes = backend.makeOutput([sh * sw * inChannels, grid.positions], 'float32');
  // Views are taken after every allocation: growing the wasm heap detaches old ones.
  const target = backend.typedArrayFromHeap(planes);
  const source = backend.typedArrayFromHeap(channelFirst);
  const image = grid.height * grid.width;
  for (let phaseY = 0; phaseY < sh; phaseY++) {
    const dataRows = Math.max(0, Math.ceil((inHeight - phaseY) / sh));
    for (let phaseX = 0; phaseX < sw; phaseX++) {
      const dataColumns = Math.max(0, Math.ceil((inWidth - phaseX) / sw));
      for (let c = 0; c < inChannels; c++) {
        for (let b = 0; b < batch; b++) {
          let to = ((phaseY * sw + phaseX) * inChannels + c) * grid.positions + b * image;
          const from = (c * batch + b) * inHeight * inWidth + phaseX;
          for (let i = 0; i < grid.height; i++, to += grid.width) {
            if (i >= dataRows) {
              target.fill(0, to, to + grid.width);
              continue;
            }
            let read = from + (i * sh + phaseY) * inWidth;
            for (let j = 0; j < dataColumns; j++, read += sw) target[to + j] = source[read]!;
            target.fill(0, to + dataColumns, to + grid.width);
          }
        }
      }
    }
  }
  release(backend, channelFirst);
  return planes;
}

/** Rows [start, start + count) of a [positions, channels] tensor as a tensor of its own. */
function copyRows(backend: WasmBackendLike, rows: TensorInfo, start: number, count: number, channels: number): TensorInfo {
  const out = backend.makeOutput([count, channels], 'float32');
  backend.typedArrayFromHeap(out).set(backend.typedArrayFromHeap(rows).subarray(start * channels, (start + count) * channels));
  return out;
}

/**
 * The left-hand matrix of one chunk, [taps·Ci, count]: row (tap, c) is plane (tap.plane + c) read
 * from start + tap.shift, zero beyond the planes' ends and on the tap's out-of-image runs.
 */
function gatherTaps(
  backend: WasmBackendLike,
  planes: TensorInfo,
  taps: readonly TapSource[],
  g: ConvGeometry,
  grid: Grid,
  start: number,
  count: number,
): TensorInfo {
  const { inChannels } = g;
  const out = backend.makeOutput([taps.length * inChannels, count], 'float32');
  const target = backend.typedArrayFromHeap(out);
  const source = backend.typedArrayFromHeap(planes);
  const firstRow = Math.floor(start / grid.width);
  const lastRow = Math.floor((start + count - 1) / grid.width);
  const runs = new Int32Array(4 * (lastRow - firstRow + 1));
  for (let t = 0; t < taps.length; t++) {
    const tap = taps[t]!;
    const runEnd = zeroRuns(runs, tap, g, grid, start, count);
    const from = start + tap.shift;
    const head = Math.min(count, Math.max(0, -from));
    const tail = Math.min(count - head, Math.max(0, from + count - grid.positions));
    const body = count - head - tail;
    for (let c = 0; c < inChannels; c++) {
      const row = (t * inChannels + c) * count;
      const plane = (tap.plane + c) * grid.positions + from;
      if (head > 0) target.fill(0, row, row + head);
      if (body > 0) target.set(source.subarray(plane + head, plane + head + body), row + head);
      if (tail > 0) target.fill(0, row + head + body, row + count);
      for (let k = 0; k < runEnd; k += 2) {
        for (let i = row + runs[k]!, end = row + runs[k + 1]!; i < end; i++) target[i] = 0;
      }
    }
  }
  return out;
}

/**
 * Write into `runs` the [begin, end) pairs, relative to `start`, of the chunk's output positions at
 * which `tap` reads outside the image (where its shifted read wraps into another row or image);
 * returns the number of entries written. Positions outside Ho×Wo meet zero dy and are skipped.
 */
function zeroRuns(runs: Int32Array, tap: TapSource, g: ConvGeometry, grid: Grid, start: number, count: number): number {
  const { outHeight, outWidth } = g;
  const left = Math.min(outWidth, tap.left);
  const right = Math.max(0, tap.right);
  let n = 0;
  const push = (begin: number, end: number): void => {
    const b = Math.max(0, begin);
    const e = Math.min(count, end);
    if (b < e) {
      runs[n++] = b;
      runs[n++] = e;
    }
  };
  const lastRow = Math.floor((start + count - 1) / grid.width);
  for (let r = Math.floor(start / grid.width); r <= lastRow; r++) {
    const oy = r % grid.height;
    if (oy >= outHeight) continue;
    const base = r * grid.width - start;
    if (oy < tap.top || oy >= tap.bottom) {
      push(base, base + outWidth);
    } else {
      if (left > 0) push(base, base + left);
      if (right < outWidth) push(base + right, base + outWidth);
    }
  }
  return n;
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

export function conv2dBackpropFilter(backend: WasmBackendLike, x: TensorInfo, dy: TensorInfo, attrs: Conv2DBackpropFilterAttrs, winograd = true): KernelResult {
  const g = convGeometry(x.shape, attrs.filterShape, attrs, dy.shape);
  if (winograd && g.channelsLast && !g.depthwise && sameThreeByThree(g)) {
    const out = winogradFilterGradient(backend, x, dy);
    if (out !== undefined) return { out, path: 'fast' };
  }
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
