import * as tf from '@tensorflow/tfjs-core';
import type { Conv2DAttrs, FusedConv2DAttrs, TensorInfo } from '@tensorflow/tfjs-core';
import { encodeModule, FunctionWriter, I32, Op, SimdOp, V128 } from '@gq/codebook/internal';
import { batchedGemmFor, gemmCall, type BatchedGemmSimd, type GemmCall } from './batched-gemm-simd.js';
import type { ConvGeometry } from './reference.js';
import { backendMemory, release, zeroPad, type WasmBackendLike } from './wasm-ops.js';

/**
 * A 3×3, stride-1, 'same' (pad 1) NHWC convolution by Winograd's minimal filtering F(2×2, 3×3)
 * (Lavin & Gray): every 2×2 block of outputs is A^T [(G g G^T) ⊙ (B^T d B)] A, with d the 4×4 input
 * patch under it and g the 3×3 filter, so the product over input channels takes 16 multiplies per
 * 4 outputs where the direct form takes 36. The channel sums become 16 independent matrix products
 * V[e]·U[e] ([tiles, Ci]·[Ci, Co]) on the SIMD GEMM, between two passes that are additions only:
 * the input transform (V = B^T d B per tile and channel) and the output transform (A^T M A, plus
 * the bias), both emitted as 128-bit SIMD WebAssembly over four channels at a time.
 *
 * Why, and where: XNNPACK runs these convolutions at 21–31 GFLOP/s on one x64 thread. Measured at
 * batch 32, one thread, against the direct kernels: the forward 1.68× (32 channels at 32×32) to
 * 1.99× (64 at 16×16) as fast; with 16 channels at 32×32 the forward, input and weight gradients
 * 1.20×, 1.17× and 1.32× (at batch 8: 0.91×, 0.95×, 1.40×), and a whole tiny32 UNet step with
 * these layers included (`minChannels` 16) 5–7 % faster than with them left direct (32). Those
 * figures predate the layout of `winogradTuning`, which made each layer 1.1–2.2× faster again.
 * Layers with fewer channels (the 3-channel image convolutions) stay direct.
 *
 * Numerics: the transforms add and subtract (and halve, for G) exact float32 values, so the result
 * differs from a direct convolution only in rounding, within a few units in the last place of the
 * largest partial sums (the tests bound it against a float64 oracle).
 */

/** Fewest input and output channels a layer needs to run here (see the module comment); both must be multiples of 4. */
export const minChannels = 16;

/**
 * Fewest 2×2 output tiles (batch · H/2 · W/2) a call needs: below, the fixed cost (the filter
 * transform, four buffers) outweighs the saving. Measured with 64 → 64 channels at 8×8: 0.61×,
 * 0.84× and 1.27× the direct convolution's speed at 16, 32 and 64 tiles, 1.62× at 128.
 */
export const minTiles = 64;

/** The shape of one Winograd convolution: NHWC input [batch, height, width, inChannels]. */
interface Shape {
  readonly batch: number;
  readonly height: number;
  readonly width: number;
  readonly inChannels: number;
  readonly outChannels: number;
}

/** Whether `winogradConv3x3` takes x [B, H, W, Ci] with a [3, 3, Ci, Co] filter. */
export function winogradApplies(xShape: readonly number[], filterShape: readonly number[]): boolean {
  const [batch, height, width, inChannels] = xShape as [number, number, number, number];
  const [kh, kw, ci, co] = filterShape as [number, number, number, number];
  return (
    xShape.length === 4 && filterShape.length === 4 && kh === 3 && kw === 3 && ci === inChannels &&
    batch > 0 && height > 0 && width > 0 && height % 2 === 0 && width % 2 === 0 &&
    inChannels % 4 === 0 && co % 4 === 0 && inChannels >= minChannels && co >= minChannels &&
    (batch * height * width) / 4 >= minTiles
  );
}

/** The two transform functions of one shape (byte addresses into the backend heap). */
interface Transforms {
  /** padded x [B, H+2, W+2, Ci] → V [16, tiles, Ci]. */
  readonly input: (xp: number, v: number) => void;
  /** M [16, tiles, Co] (+ bias [Co]) → y [B, H, W, Co]. */
  readonly output: (m: number, y: number, bias: number) => void;
  readonly outputNoBias: (m: number, y: number, bias: number) => void;
  /** dy [B, H, W, Co] → Ũ [16, tiles, Co] (the filter gradient's transform of each 2×2 block). */
  readonly gradient: (dy: number, u: number) => void;
}

/** `for (counter = 0; counter < n; counter++) body()` for a constant n ≥ 1. */
function repeat(w: FunctionWriter, counter: number, n: number, body: () => void): void {
  w.i32(0).set(counter);
  w.begin(Op.loop);
  body();
  w.get(counter).i32(1).op(Op.i32Add).tee(counter).i32(n).op(Op.i32LtU).branch(Op.brIf, 0);
  w.op(Op.end);
}

/** `local += bytes`. */
function advance(w: FunctionWriter, local: number, bytes: number): void {
  w.get(local).i32(bytes).op(Op.i32Add).set(local);
}

const f32x4Sub = 0xe5;

/** `target = a op b` on v128 locals. */
function combine(w: FunctionWriter, target: number, a: number, b: number, op: number): void {
  w.get(a).get(b).simd(op).set(target);
}

/** The geometry fields `sameThreeByThree` reads. */
export type ThreeByThreeGeometry = Pick<
  ConvGeometry,
  | 'filterHeight' | 'filterWidth' | 'strideHeight' | 'strideWidth' | 'dilationHeight' | 'dilationWidth'
  | 'padTop' | 'padLeft' | 'inHeight' | 'inWidth' | 'outHeight' | 'outWidth'
>;

/**
 * Whether a convolution is Winograd's case: 3×3, stride 1, undilated, padded by 1 before and
 * (the output keeping the input's size) by 1 after on each axis.
 */
export function sameThreeByThree(g: ThreeByThreeGeometry): boolean {
  return (
    g.filterHeight === 3 && g.filterWidth === 3 && g.strideHeight === 1 && g.strideWidth === 1 && g.dilationHeight === 1 && g.dilationWidth === 1 &&
    g.padTop === 1 && g.padLeft === 1 && g.outHeight === g.inHeight && g.outWidth === g.inWidth
  );
}

/** What `walkTiles` walks: an NHWC image and its [16, tiles, channels] tap array, both parameters of the function. */
interface TileWalk {
  /** Parameter holding the image's address: [B, H + 2·pad, W + 2·pad, channels]. */
  readonly image: number;
  /** Parameter holding the tap array's address. */
  readonly taps: number;
  readonly channels: number;
  /** Rows (and columns) of zero padding around each image: 1 for the padded input, 0 otherwise. */
  readonly pad: number;
  /** A further parameter walked with the channels and restarted at each tile (the bias), if any. */
  readonly perTile?: number;
}

/**
 * Bytes from one tap's [tiles, channels] matrix to the next in V, M and Ũ (see `winogradTuning`).
 */
function tapStride(tiles: number, channels: number): number {
  return 4 * tiles * channels + winogradTuning.tapSkewBytes;
}

/** Addresses `walkTiles` hands to its body, and the strides between the values there. */
interface TileAt {
  /** The image at the tile's top-left position and the current four channels. */
  readonly pixel: number;
  /** The tap array at tap 0, this tile and the current four channels. */
  readonly tap: number;
  /** The `perTile` parameter's walk at the current four channels. */
  readonly perTile: number;
  /** Bytes between horizontally and vertically adjacent image values, and between taps. */
  readonly pixelBytes: number;
  readonly rowBytes: number;
  readonly tapBytes: number;
}

/**
 * Emit the walk over every 2×2 tile (images, tile rows, tile columns, as the tiles are numbered)
 * and every four channels, calling `body` once per position with the addresses there.
 */
function walkTiles(w: FunctionWriter, s: Shape, walk: TileWalk, body: (at: TileAt) => void): void {
  const tilesY = s.height / 2;
  const tilesX = s.width / 2;
  const pixelBytes = 4 * walk.channels;
  const rowBytes = (s.width + 2 * walk.pad) * pixelBytes;
  const tapBytes = tapStride(s.batch * tilesY * tilesX, walk.channels);
  const [b, ty, tx, c] = [w.local(I32), w.local(I32), w.local(I32), w.local(I32)];
  const [rowBase, tileBase, pixel, tap, tapBase, perTile] = [w.local(I32), w.local(I32), w.local(I32), w.local(I32), w.local(I32), w.local(I32)];
  w.get(walk.image).set(rowBase);
  w.get(walk.taps).set(tapBase);
  repeat(w, b, s.batch, () => {
    repeat(w, ty, tilesY, () => {
      w.get(rowBase).set(tileBase);
      repeat(w, tx, tilesX, () => {
        w.get(tileBase).set(pixel);
        w.get(tapBase).set(tap);
        if (walk.perTile !== undefined) w.get(walk.perTile).set(perTile);
        repeat(w, c, walk.channels / 4, () => {
          body({ pixel, tap, perTile, pixelBytes, rowBytes, tapBytes });
          advance(w, pixel, 16);
          advance(w, tap, 16);
          if (walk.perTile !== undefined) advance(w, perTile, 16);
        });
        advance(w, tileBase, 2 * pixelBytes);
        advance(w, tapBase, pixelBytes);
      });
      advance(w, rowBase, 2 * rowBytes);
    });
    // Past the image's bottom padding rows to the next image.
    if (walk.pad > 0) advance(w, rowBase, 2 * walk.pad * rowBytes);
  });
}

/** The input transform: for each tile and four channels, V[e] = (B^T d B)[e] for the 16 taps e. */
function inputFunction(s: Shape): FunctionWriter {
  const w = new FunctionWriter(2);
  const a = [w.local(V128), w.local(V128), w.local(V128), w.local(V128)];
  const t = Array.from({ length: 16 }, () => w.local(V128));
  walkTiles(w, s, { image: 0, taps: 1, channels: s.inChannels, pad: 1 }, (at) => {
    // Columns first: t[i][j] = (B^T d)[i][j] from the patch's column j.
    for (let j = 0; j < 4; j++) {
      for (let i = 0; i < 4; i++) w.get(at.pixel).simdMemory(SimdOp.v128Load, i * at.rowBytes + j * at.pixelBytes, 16).set(a[i]!);
      combine(w, t[j]!, a[0]!, a[2]!, f32x4Sub);
      combine(w, t[4 + j]!, a[1]!, a[2]!, SimdOp.f32x4Add);
      combine(w, t[8 + j]!, a[2]!, a[1]!, f32x4Sub);
      combine(w, t[12 + j]!, a[1]!, a[3]!, f32x4Sub);
    }
    // Then rows: V[i][j] = (t B)[i][j], stored at tap e = 4i + j.
    for (let i = 0; i < 4; i++) {
      const [r0, r1, r2, r3] = [t[4 * i]!, t[4 * i + 1]!, t[4 * i + 2]!, t[4 * i + 3]!];
      const store = (j: number, x: number, y: number, op: number) => {
        w.get(at.tap).get(x).get(y).simd(op).simdMemory(SimdOp.v128Store, (4 * i + j) * at.tapBytes, 16);
      };
      store(0, r0, r2, f32x4Sub);
      store(1, r1, r2, SimdOp.f32x4Add);
      store(2, r2, r1, f32x4Sub);
      store(3, r1, r3, f32x4Sub);
    }
  });
  return w;
}

/** The output transform: for each tile and four channels, y = A^T M A (+ bias) for the 2×2 outputs. */
function outputFunction(s: Shape, withBias: boolean): FunctionWriter {
  const w = new FunctionWriter(3);
  const a = [w.local(V128), w.local(V128), w.local(V128), w.local(V128)];
  const sums = Array.from({ length: 8 }, () => w.local(V128));
  const [value, biasVector] = [w.local(V128), w.local(V128)];
  walkTiles(w, s, { image: 1, taps: 0, channels: s.outChannels, pad: 0, perTile: 2 }, (at) => {
    // Columns: s[0][j] = m0j + m1j + m2j, s[1][j] = m1j − m2j − m3j.
    for (let j = 0; j < 4; j++) {
      for (let i = 0; i < 4; i++) w.get(at.tap).simdMemory(SimdOp.v128Load, (4 * i + j) * at.tapBytes, 16).set(a[i]!);
      w.get(a[0]!).get(a[1]!).simd(SimdOp.f32x4Add).get(a[2]!).simd(SimdOp.f32x4Add).set(sums[j]!);
      w.get(a[1]!).get(a[2]!).simd(f32x4Sub).get(a[3]!).simd(f32x4Sub).set(sums[4 + j]!);
    }
    if (withBias) w.get(at.perTile).simdMemory(SimdOp.v128Load, 0, 16).set(biasVector);
    // Rows: y[i][0] = s_i0 + s_i1 + s_i2, y[i][1] = s_i1 − s_i2 − s_i3.
    for (let i = 0; i < 2; i++) {
      const [s0, s1, s2, s3] = [sums[4 * i]!, sums[4 * i + 1]!, sums[4 * i + 2]!, sums[4 * i + 3]!];
      for (let j = 0; j < 2; j++) {
        w.get(at.pixel);
        if (j === 0) w.get(s0).get(s1).simd(SimdOp.f32x4Add).get(s2).simd(SimdOp.f32x4Add);
        else w.get(s1).get(s2).simd(f32x4Sub).get(s3).simd(f32x4Sub);
        if (withBias) w.set(value).get(value).get(biasVector).simd(SimdOp.f32x4Add);
        w.simdMemory(SimdOp.v128Store, i * at.rowBytes + j * at.pixelBytes, 16);
      }
    }
  });
  return w;
}

const f32x4Neg = 0xe1;

/**
 * The filter gradient's transform of dy: for each tile (a 2×2 block q of dy) and four channels,
 * Ũ[e] = (A q Aᵀ)[e] with A = F(2×2, 3×3)'s output matrix transposed, rows (1, 0), (1, 1),
 * (1, −1), (0, −1): column by column r = (q0, q0 + q1, q0 − q1, −q1), then the same along rows.
 */
function gradientFunction(s: Shape): FunctionWriter {
  const w = new FunctionWriter(2);
  const [top, bottom] = [w.local(V128), w.local(V128)];
  const r = Array.from({ length: 8 }, () => w.local(V128));
  walkTiles(w, s, { image: 0, taps: 1, channels: s.outChannels, pad: 0 }, (at) => {
    // Columns: r[i][j] for rows i of A q, j the block's column (r holds rows 0–3 × columns 0–1).
    for (let j = 0; j < 2; j++) {
      w.get(at.pixel).simdMemory(SimdOp.v128Load, j * at.pixelBytes, 16).set(top);
      w.get(at.pixel).simdMemory(SimdOp.v128Load, at.rowBytes + j * at.pixelBytes, 16).set(bottom);
      w.get(top).set(r[j]!);
      combine(w, r[2 + j]!, top, bottom, SimdOp.f32x4Add);
      combine(w, r[4 + j]!, top, bottom, f32x4Sub);
      w.get(bottom).simd(f32x4Neg).set(r[6 + j]!);
    }
    // Rows: Ũ[i][·] = (r_i0, r_i0 + r_i1, r_i0 − r_i1, −r_i1), stored at tap e = 4i + column.
    for (let i = 0; i < 4; i++) {
      const [r0, r1] = [r[2 * i]!, r[2 * i + 1]!];
      const store = (k: number) => w.simdMemory(SimdOp.v128Store, (4 * i + k) * at.tapBytes, 16);
      w.get(at.tap).get(r0);
      store(0);
      w.get(at.tap).get(r0).get(r1).simd(SimdOp.f32x4Add);
      store(1);
      w.get(at.tap).get(r0).get(r1).simd(f32x4Sub);
      store(2);
      w.get(at.tap).get(r1).simd(f32x4Neg);
      store(3);
    }
  });
  return w;
}

/** Compiled transforms per heap and shape (a model has a handful of shapes; each compiles once). */
const compiled = new WeakMap<WebAssembly.Memory, Map<string, Transforms | null>>();

function transformsFor(memory: WebAssembly.Memory, s: Shape): Transforms | undefined {
  let byShape = compiled.get(memory);
  if (byShape === undefined) {
    byShape = new Map();
    compiled.set(memory, byShape);
  }
  const key = `${s.batch},${s.height},${s.width},${s.inChannels},${s.outChannels},${winogradTuning.tapSkewBytes}`;
  let found = byShape.get(key);
  if (found === undefined) {
    try {
      const module = new WebAssembly.Module(
        encodeModule(
          [
            { params: [I32, I32], body: inputFunction(s), exportName: 'input' },
            { params: [I32, I32, I32], body: outputFunction(s, true), exportName: 'output' },
            { params: [I32, I32, I32], body: outputFunction(s, false), exportName: 'outputNoBias' },
            { params: [I32, I32], body: gradientFunction(s), exportName: 'gradient' },
          ],
          1,
        ),
      );
      found = new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as Transforms;
    } catch {
      found = null;
    }
    byShape.set(key, found);
  }
  return found ?? undefined;
}

/**
 * U[e] = (G g G^T)[e] for every (input, output) channel pair of a [3, 3, Ci, Co] filter, written as
 * [16, Ci, Co] into `out`. G's rows are (1, 0, 0), (½, ½, ½), (½, −½, ½), (0, 0, 1).
 */
export function transformFilter(filter: Float32Array | Float64Array, inChannels: number, outChannels: number, out: Float32Array | Float64Array): void {
  const pairs = inChannels * outChannels;
  const h = new Float64Array(12);
  for (let k = 0; k < pairs; k++) {
    // (G g): 4 rows × 3 columns, from the filter's rows g0, g1, g2 at this channel pair.
    for (let kx = 0; kx < 3; kx++) {
      const g0 = filter[kx * pairs + k]!;
      const g1 = filter[(3 + kx) * pairs + k]!;
      const g2 = filter[(6 + kx) * pairs + k]!;
      h[kx] = g0;
      h[3 + kx] = (g0 + g1 + g2) / 2;
      h[6 + kx] = (g0 - g1 + g2) / 2;
      h[9 + kx] = g2;
    }
    for (let r = 0; r < 4; r++) {
      const [h0, h1, h2] = [h[3 * r]!, h[3 * r + 1]!, h[3 * r + 2]!];
      out[(4 * r) * pairs + k] = h0;
      out[(4 * r + 1) * pairs + k] = (h0 + h1 + h2) / 2;
      out[(4 * r + 2) * pairs + k] = (h0 - h1 + h2) / 2;
      out[(4 * r + 3) * pairs + k] = h2;
    }
  }
}

/**
 * How the transformed tiles are laid out and walked (mutable so tests and benches can compare).
 *
 * `tapSkewBytes`: the 16 taps' [tiles, channels] matrices of V, M and Ũ lie one cache line
 * further apart than their size. A tile's transform writes (or reads) one vector in each of the 16;
 * at a distance that is a multiple of 4 KB (every power-of-two shape) all 16 fall in one L1 cache
 * set, more than its 12 ways, and every access missed.
 *
 * `chunkBytes`: both paths run image chunk by image chunk (transform, multiply, transform back), so
 * a chunk's 16·tiles·(Ci + Co) floats are read back while in L2 rather than after whole-batch
 * passes over 8 MB buffers. Chunks cut the products along rows (forward) or along K in ascending
 * order (weight gradient, `accumulate`), so every sum is the same as in one pass; 512 KB leaves
 * room in a 1 MB L2.
 *
 * Measured on one quiet x64 thread, batch 32, medians of interleaved calls, ms (unskewed whole
 * batch / skewed whole batch / skewed 512 KB chunks):
 *
 * | layer | forward | weight gradient |
 * |---|---|---|
 * | 16 → 16 channels at 32×32 | 4.97 / 3.52 / 3.13 | 6.67 / 3.60 / 3.06 |
 * | 32 → 32 at 32×32 | 13.95 / 10.29 / 8.87 | 17.83 / 11.22 / 9.39 |
 * | 32 → 32 at 16×16 | 3.32 / 2.48 / 2.28 | 4.14 / 2.67 / 2.32 |
 * | 64 → 64 at 8×8 | 2.71 / 2.54 / 2.18 | 3.35 / 2.75 / 2.37 |
 *
 * A whole tiny32 step went from 597–601 ms to 452–471 ms (two runs of each, alternated).
 */
export const winogradTuning = { chunkBytes: 512 * 1024, tapSkewBytes: 64 };

/** A run of consecutive images handled as one: its first image, how many, its tiles and its transforms. */
interface Chunk {
  readonly first: number;
  readonly images: number;
  readonly tiles: number;
  readonly transforms: Transforms;
}

/** What both Winograd paths run on: the GEMM and the transforms of each image chunk, bound to the backend heap. */
interface Plan {
  readonly gemm: BatchedGemmSimd;
  readonly shape: Shape;
  readonly chunks: readonly Chunk[];
  /** Tiles of the largest chunk (the buffers' size). */
  readonly chunkTiles: number;
}

/** The plan for x [B, H, W, Ci] with `outChannels`, or undefined where Winograd does not apply or cannot run on this heap. */
function planFor(backend: WasmBackendLike, x: TensorInfo, outChannels: number): Plan | undefined {
  if (x.dtype !== 'float32') return undefined;
  if (!winogradApplies(x.shape, [3, 3, x.shape[3]!, outChannels])) return undefined;
  const [batch, height, width, inChannels] = x.shape as [number, number, number, number];
  const memory = backendMemory(backend);
  if (memory === undefined || backend.typedArrayFromHeap(x).buffer !== memory.buffer) return undefined;
  const gemm = batchedGemmFor(memory);
  if (gemm === undefined) return undefined;
  const shape = { batch, height, width, inChannels, outChannels };
  const imageTiles = (height / 2) * (width / 2);
  const perChunk = Math.max(1, Math.min(batch, Math.floor(winogradTuning.chunkBytes / (64 * imageTiles * (inChannels + outChannels)))));
  const chunks: Chunk[] = [];
  for (let first = 0; first < batch; first += perChunk) {
    const images = Math.min(perChunk, batch - first);
    const transforms = transformsFor(memory, { ...shape, batch: images });
    if (transforms === undefined) return undefined;
    chunks.push({ first, images, tiles: images * imageTiles, transforms });
  }
  return { gemm, shape, chunks, chunkTiles: perChunk * imageTiles };
}

/** Heap addresses `runPlan` hands to the work (taken once: nothing allocates while it runs). */
interface PlanAddresses {
  /** One chunk's input transform V [16, chunk tiles, Ci], filled before each `chunk` call. */
  readonly v: number;
  readonly buffers: readonly number[];
  readonly scratch: number;
  /** The result at its start. */
  readonly result: number;
}

/**
 * Allocate x padded by 1, one chunk's input transform V, the buffers of `shapes`, the GEMM's
 * scratch and the result; run `before` once, then per image chunk fill V from the chunk's images
 * and run `chunk`, then `after`; release everything but the result.
 */
function runPlan(
  backend: WasmBackendLike,
  x: TensorInfo,
  p: Plan,
  call: GemmCall,
  shapes: readonly number[][],
  resultShape: number[],
  work: { before?(at: PlanAddresses): void; chunk(chunk: Chunk, at: PlanAddresses): void; after?(at: PlanAddresses): void },
): TensorInfo {
  const { height, width, inChannels } = p.shape;
  const padded = zeroPad(backend, x, [[0, 0], [1, 1], [1, 1], [0, 0]]);
  const v = backend.makeOutput([16 * tapStride(p.chunkTiles, inChannels) / 4], 'float32');
  const buffers = shapes.map((shape) => backend.makeOutput(shape, 'float32'));
  const scratch = call.scratchBytes > 0 ? backend.makeOutput([call.scratchBytes / 4], 'float32') : undefined;
  const result = backend.makeOutput(resultShape, 'float32');
  let done = false;
  try {
    // Addresses are taken after every allocation, since one may grow the heap.
    const address = (info: TensorInfo): number => backend.typedArrayFromHeap(info).byteOffset;
    const at: PlanAddresses = { v: address(v), buffers: buffers.map(address), scratch: scratch === undefined ? 0 : address(scratch), result: address(result) };
    const paddedAt = address(padded);
    const paddedImageBytes = 4 * (height + 2) * (width + 2) * inChannels;
    work.before?.(at);
    for (const chunk of p.chunks) {
      chunk.transforms.input(paddedAt + chunk.first * paddedImageBytes, at.v);
      work.chunk(chunk, at);
    }
    work.after?.(at);
    done = true;
  } finally {
    release(backend, padded, v, ...buffers);
    if (scratch !== undefined) release(backend, scratch);
    if (!done) release(backend, result);
  }
  return result;
}

/**
 * y = conv2d(x, filter, stride 1, pad 1) (+ bias) for x [B, H, W, Ci] (H, W even) and filter
 * [3, 3, Ci, Co] with Ci, Co multiples of 4 and at least `minChannels`, on the backend heap; a new
 * [B, H, W, Co] tensor. Undefined where it does not apply (`winogradApplies`) or the SIMD modules
 * cannot run on this heap, so the caller falls back to a direct convolution.
 */
export function winogradConv3x3(backend: WasmBackendLike, x: TensorInfo, filter: TensorInfo, bias?: TensorInfo): TensorInfo | undefined {
  if (filter.dtype !== 'float32' || filter.shape.length !== 4 || filter.shape[0] !== 3 || filter.shape[1] !== 3 || filter.shape[2] !== x.shape[3]) return undefined;
  const outChannels = filter.shape[3]!;
  if (bias !== undefined && (bias.dtype !== 'float32' || bias.shape.length !== 1 || bias.shape[0] !== outChannels)) return undefined;
  const p = planFor(backend, x, outChannels);
  if (p === undefined) return undefined;
  const { batch, height, width, inChannels } = p.shape;
  const call = gemmCall(p.gemm, false, outChannels, inChannels);
  const imageBytes = 4 * height * width * outChannels;
  return runPlan(backend, x, p, call, [[16, inChannels, outChannels], [16 * tapStride(p.chunkTiles, outChannels) / 4]], [batch, height, width, outChannels], {
    before: ({ buffers: [u] }) => {
      transformFilter(backend.typedArrayFromHeap(filter) as Float32Array, inChannels, outChannels, heapFloats(backend, u!, 16 * inChannels * outChannels));
    },
    chunk: (chunk, { v, buffers: [u, m], result, scratch }) => {
      // One product per tap: M's taps lie tapStride apart, which the batched call cannot write.
      const [vStep, mStep] = [tapStride(chunk.tiles, inChannels), tapStride(chunk.tiles, outChannels)];
      for (let e = 0; e < 16; e++) {
        call.run(v + e * vStep, u! + 4 * e * inChannels * outChannels, m! + e * mStep, 1, 0, 0, chunk.tiles, outChannels, inChannels, call.kBlock, call.nBlock, scratch);
      }
      const y = result + chunk.first * imageBytes;
      if (bias !== undefined) chunk.transforms.output(m!, y, backend.typedArrayFromHeap(bias).byteOffset);
      else chunk.transforms.outputNoBias(m!, y, 0);
    },
  });
}

/**
 * The Winograd path for a Conv2D / FusedConv2D call, where its attributes make it a 3×3, stride-1,
 * undilated NHWC convolution padded by 1 on every side (tfjs's 'same' for 3×3) with no activation;
 * undefined otherwise (and wherever `winogradConv3x3` does not apply), for wasm's own kernel.
 */
export function winogradConvolution(
  backend: WasmBackendLike,
  inputs: { x: TensorInfo; filter: TensorInfo; bias?: TensorInfo; preluActivationWeights?: TensorInfo },
  attrs: Conv2DAttrs & Partial<Pick<FusedConv2DAttrs, 'activation'>>,
): TensorInfo | undefined {
  const { x, filter, bias, preluActivationWeights } = inputs;
  if (preluActivationWeights !== undefined || (attrs.activation !== undefined && attrs.activation !== 'linear')) return undefined;
  if (attrs.dataFormat !== undefined && attrs.dataFormat !== 'NHWC') return undefined;
  if (x.shape.length !== 4 || filter.shape.length !== 4) return undefined;
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filter.shape as [number, number, number, number],
    attrs.strides,
    attrs.dilations ?? 1,
    attrs.pad,
    attrs.dimRoundingMode,
  );
  if (!sameThreeByThree({ ...info, padTop: info.padInfo.top, padLeft: info.padInfo.left })) return undefined;
  return winogradConv3x3(backend, x, filter, bias);
}

/**
 * dW[ky, kx] = (Gᵀ W̃ G)[ky, kx] for every channel pair of W̃ [16, Ci, Co], written as [3, 3, Ci, Co]
 * into `out`: Gᵀ's rows are (1, ½, ½, 0), (0, ½, −½, 0), (0, ½, ½, 1) (F(3×3, 2×2), the transpose of
 * F(2×2, 3×3), whose filter matrix G becomes the output matrix).
 */
export function untransformFilterGradient(w: Float32Array | Float64Array, inChannels: number, outChannels: number, out: Float32Array | Float64Array): void {
  const pairs = inChannels * outChannels;
  const h = new Float64Array(12);
  for (let k = 0; k < pairs; k++) {
    // (Gᵀ W̃): 3 rows × 4 columns.
    for (let col = 0; col < 4; col++) {
      const [w0, w1, w2, w3] = [w[col * pairs + k]!, w[(4 + col) * pairs + k]!, w[(8 + col) * pairs + k]!, w[(12 + col) * pairs + k]!];
      h[col] = w0 + (w1 + w2) / 2;
      h[4 + col] = (w1 - w2) / 2;
      h[8 + col] = (w1 + w2) / 2 + w3;
    }
    for (let ky = 0; ky < 3; ky++) {
      const [h0, h1, h2, h3] = [h[4 * ky]!, h[4 * ky + 1]!, h[4 * ky + 2]!, h[4 * ky + 3]!];
      out[(3 * ky) * pairs + k] = h0 + (h1 + h2) / 2;
      out[(3 * ky + 1) * pairs + k] = (h1 - h2) / 2;
      out[(3 * ky + 2) * pairs + k] = (h1 + h2) / 2 + h3;
    }
  }
}

/**
 * The weight gradient dW [3, 3, Ci, Co] of y = conv2d(x, W, stride 1, pad 1) given dy [B, H, W, Co],
 * by F(3×3, 2×2) over the same tiles as the forward: per tap e, W̃[e] = V[e]ᵀ·Ũ[e] with V the
 * forward's input transform of x and Ũ the transform of dy's 2×2 blocks (one product over all
 * tiles, K = tiles, on the SIMD GEMM with A read transposed), then dW = Gᵀ W̃ G per channel pair.
 * Undefined where it does not apply, as `winogradConv3x3`.
 */
export function winogradFilterGradient(backend: WasmBackendLike, x: TensorInfo, dy: TensorInfo): TensorInfo | undefined {
  if (dy.dtype !== 'float32' || dy.shape.length !== 4 || x.shape.length !== 4 || x.shape.slice(0, 3).some((d, i) => d !== dy.shape[i])) return undefined;
  const p = planFor(backend, x, dy.shape[3]!);
  if (p === undefined) return undefined;
  const { height, width, inChannels, outChannels } = p.shape;
  const first = gemmCall(p.gemm, true, outChannels, p.chunkTiles);
  const rest = gemmCall(p.gemm, true, outChannels, p.chunkTiles, { accumulate: true });
  const dyImageBytes = 4 * height * width * outChannels;
  const products = 16 * inChannels * outChannels;
  return runPlan(backend, x, p, first, [[16 * tapStride(p.chunkTiles, outChannels) / 4], [16, inChannels, outChannels]], [3, 3, inChannels, outChannels], {
    chunk: (chunk, { v, buffers: [u, product], scratch }) => {
      chunk.transforms.gradient(backend.typedArrayFromHeap(dy).byteOffset + chunk.first * dyImageBytes, u!);
      const call = chunk.first === 0 ? first : rest;
      call.run(v, u!, product!, 16, tapStride(chunk.tiles, inChannels), tapStride(chunk.tiles, outChannels), inChannels, outChannels, chunk.tiles, call.kBlock, call.nBlock, scratch);
    },
    after: ({ buffers: [, product], result }) => {
      untransformFilterGradient(heapFloats(backend, product!, products), inChannels, outChannels, heapFloats(backend, result, 9 * inChannels * outChannels));
    },
  });
}

/** `length` floats of the backend heap at byte address `at`. */
function heapFloats(backend: WasmBackendLike, at: number, length: number): Float32Array {
  return new Float32Array(backendMemory(backend)!.buffer, at, length);
}
