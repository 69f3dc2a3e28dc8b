import type { TensorInfo } from '@tensorflow/tfjs-core';
import type { WasmBackendLike } from './wasm-ops.js';

/**
 * Geometry of one 2-D convolution, regular or depthwise, in either data layout. For depthwise,
 * `outChannels = inChannels · multiplier` and output channel c·M + m reads input channel c.
 */
export interface ConvGeometry {
  readonly batch: number;
  readonly inHeight: number;
  readonly inWidth: number;
  readonly inChannels: number;
  readonly outHeight: number;
  readonly outWidth: number;
  readonly outChannels: number;
  readonly filterHeight: number;
  readonly filterWidth: number;
  readonly strideHeight: number;
  readonly strideWidth: number;
  readonly dilationHeight: number;
  readonly dilationWidth: number;
  readonly padTop: number;
  readonly padLeft: number;
  readonly channelsLast: boolean;
  readonly depthwise: boolean;
}

type Indexer = (b: number, y: number, x: number, c: number) => number;

function indexer(channelsLast: boolean, height: number, width: number, channels: number): Indexer {
  return channelsLast
    ? (b, y, x, c) => ((b * height + y) * width + x) * channels + c
    : (b, y, x, c) => ((b * channels + c) * height + y) * width + x;
}

/**
 * Visit every (output pixel, filter tap) pair whose input pixel lies inside the image. Both
 * gradients are sums over exactly these pairs, so the reference shares one loop nest and handles
 * any stride, dilation, padding and layout the same way.
 */
function forEachTap(g: ConvGeometry, visit: (b: number, oy: number, ox: number, iy: number, ix: number, ky: number, kx: number) => void): void {
  for (let b = 0; b < g.batch; b++) {
    for (let oy = 0; oy < g.outHeight; oy++) {
      for (let ky = 0; ky < g.filterHeight; ky++) {
        const iy = oy * g.strideHeight + ky * g.dilationHeight - g.padTop;
        if (iy < 0 || iy >= g.inHeight) continue;
        for (let ox = 0; ox < g.outWidth; ox++) {
          for (let kx = 0; kx < g.filterWidth; kx++) {
            const ix = ox * g.strideWidth + kx * g.dilationWidth - g.padLeft;
            if (ix < 0 || ix >= g.inWidth) continue;
            visit(b, oy, ox, iy, ix, ky, kx);
          }
        }
      }
    }
  }
}

/** Plain-JS weight gradient (float64 accumulation) written into a new float32 backend tensor. */
export function referenceBackpropFilter(backend: WasmBackendLike, x: TensorInfo, dy: TensorInfo, g: ConvGeometry): TensorInfo {
  const multiplier = g.depthwise ? g.outChannels / g.inChannels : g.outChannels;
  const shape = [g.filterHeight, g.filterWidth, g.inChannels, multiplier];
  const accumulator = new Float64Array(g.filterHeight * g.filterWidth * g.inChannels * multiplier);
  const out = backend.makeOutput(shape, 'float32');
  const xValues = backend.typedArrayFromHeap(x);
  const dyValues = backend.typedArrayFromHeap(dy);
  const xAt = indexer(g.channelsLast, g.inHeight, g.inWidth, g.inChannels);
  const dyAt = indexer(g.channelsLast, g.outHeight, g.outWidth, g.outChannels);
  forEachTap(g, (b, oy, ox, iy, ix, ky, kx) => {
    const tap = (ky * g.filterWidth + kx) * g.inChannels * multiplier;
    for (let ci = 0; ci < g.inChannels; ci++) {
      const xv = xValues[xAt(b, iy, ix, ci)];
      if (xv === 0) continue;
      const row = tap + ci * multiplier;
      if (g.depthwise) {
        for (let m = 0; m < multiplier; m++) accumulator[row + m] += xv * dyValues[dyAt(b, oy, ox, ci * multiplier + m)];
      } else {
        for (let co = 0; co < multiplier; co++) accumulator[row + co] += xv * dyValues[dyAt(b, oy, ox, co)];
      }
    }
  });
  backend.typedArrayFromHeap(out).set(accumulator);
  return out;
}

/** Plain-JS input gradient (float64 accumulation) written into a new float32 backend tensor. */
export function referenceBackpropInput(
  backend: WasmBackendLike,
  dy: TensorInfo,
  filter: TensorInfo,
  g: ConvGeometry,
  inputShape: number[],
): TensorInfo {
  const multiplier = g.depthwise ? g.outChannels / g.inChannels : g.outChannels;
  const accumulator = new Float64Array(g.batch * g.inHeight * g.inWidth * g.inChannels);
  const out = backend.makeOutput(inputShape, 'float32');
  const dyValues = backend.typedArrayFromHeap(dy);
  const filterValues = backend.typedArrayFromHeap(filter);
  const xAt = indexer(g.channelsLast, g.inHeight, g.inWidth, g.inChannels);
  const dyAt = indexer(g.channelsLast, g.outHeight, g.outWidth, g.outChannels);
  forEachTap(g, (b, oy, ox, iy, ix, ky, kx) => {
    const tap = (ky * g.filterWidth + kx) * g.inChannels * multiplier;
    for (let ci = 0; ci < g.inChannels; ci++) {
      const row = tap + ci * multiplier;
      let sum = 0;
      if (g.depthwise) {
        for (let m = 0; m < multiplier; m++) sum += filterValues[row + m] * dyValues[dyAt(b, oy, ox, ci * multiplier + m)];
      } else {
        for (let co = 0; co < multiplier; co++) sum += filterValues[row + co] * dyValues[dyAt(b, oy, ox, co)];
      }
      accumulator[xAt(b, iy, ix, ci)] += sum;
    }
  });
  backend.typedArrayFromHeap(out).set(accumulator);
  return out;
}
