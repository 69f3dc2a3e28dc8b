import * as tf from '@tensorflow/tfjs-core';
import type { Conv2DAttrs, FusedConv2DAttrs, TensorInfo } from '@tensorflow/tfjs-core';
import { encodeModule, FunctionWriter, I32, Op, SimdOp, V128 } from '@gq/codebook/internal';
import { batchedGemmFor, gemmCall, type BatchedGemmSimd, type GemmCall } from './batched-gemm-simd.js';
import type { ConvGeometry } from './reference.js';
import { backendMemory, release, type WasmBackendLike } from './wasm-ops.js';

/**
 * A 3×3, stride-1, 'same' (pad 1) NHWC convolution by Winograd's minimal filtering F(m×m, 3×3)
 * (Lavin & Gray): every m×m block of outputs is Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A, with d the
 * (m + 2)×(m + 2) input patch under it and g the 3×3 filter, so the product over input channels
 * takes (m + 2)² multiplies per m² outputs where the direct form takes 9·m²: F(2×2, 3×3) 16 per 4
 * outputs, F(4×4, 3×3) 36 per 16 (`winogradAlgorithms`). The channel sums become (m + 2)²
 * independent matrix products V[e]·U[e] ([tiles, Ci]·[Ci, Co]) on the SIMD GEMM, between two passes
 * that only add and multiply by small constants: the input transform (V = Bᵀ d B per tile and
 * channel) and the output transform (Aᵀ M A, plus the bias), both emitted as 128-bit SIMD
 * WebAssembly over four channels at a time.
 *
 * Why, and where: XNNPACK runs these convolutions at 21–31 GFLOP/s on one x64 thread. Measured at
 * batch 32, one thread, against the direct kernels, with F(2×2, 3×3): the forward 1.68× (32
 * channels at 32×32) to 1.99× (64 at 16×16) as fast; with 16 channels at 32×32 the forward, input
 * and weight gradients 1.20×, 1.17× and 1.32× (at batch 8: 0.91×, 0.95×, 1.40×), and a whole tiny32
 * UNet step with these layers included (16 channels up) 5–7 % faster than with them left direct
 * (32). Those figures predate the layout of `winogradTuning`, which made each layer 1.1–2.2× faster
 * again, and F(4×4, 3×3) (`winogradTuning.outputTile`), which also takes thinner layers
 * (`minChannels`) and, through zero-padded copies, the 3-channel image convolutions.
 *
 * Numerics: F(2×2, 3×3)'s transforms add and subtract (and halve, for G) exact float32 values, so
 * its result differs from a direct convolution only in rounding, within a few units in the last
 * place of the largest partial sums. F(4×4, 3×3)'s transforms multiply by integers up to 5 (Bᵀ),
 * powers of two (Aᵀ) and fifteenths and sixths (G, computed in float64, rounded once), which
 * amplifies rounding: in a float32 simulation of a 64-channel layer its worst error was 2.0e-6 of
 * the largest output against F(2×2)'s 3.3e-7 and a direct float32 sum's 4.5e-7. The tests bound
 * both against a float64 oracle.
 */

/** One algorithm F(m×m, 3×3): output tiles of m×m from input tiles of (m + 2)×(m + 2), (m + 2)² taps. */
export interface WinogradAlgorithm {
  /** Output tile side. */
  readonly m: 2 | 4;
  /** Input tile side, m + 2; n² taps. */
  readonly n: number;
  /** Bᵀ, n × n: V = Bᵀ d B (small integers, exact in float32). */
  readonly inputMatrix: readonly (readonly number[])[];
  /** G, n × 3: U = G g Gᵀ (applied in float64). */
  readonly filterMatrix: readonly (readonly number[])[];
  /** Aᵀ, m × n: y = Aᵀ M A (small integers). */
  readonly outputMatrix: readonly (readonly number[])[];
}

/**
 * F(2×2, 3×3) with interpolation points 0, ±1 and ∞, as Lavin & Gray give it; F(4×4, 3×3) with
 * points 0, ±1, 2, −½ and ∞ (the Toom–Cook construction: Aᵀ's columns are the points' powers, G's
 * rows too, Bᵀ the inverse transposed Vandermonde matrix, rows of Bᵀ and G scaled reciprocally so
 * that Bᵀ holds small integers). In a float32 simulation of a 64-channel layer (8×8, six seeds) these
 * points gave a worst relative error of 2.0e-6 (mean 1.0e-6), Lavin & Gray's 0, ±1, ±2 4.9e-6 (3.3e-6),
 * 0, ±1, ±½ 7.9e-6; every entry of Bᵀ and Aᵀ is exact in float32, as are its products by them up
 * to rounding.
 */
export const winogradAlgorithms: Readonly<Record<2 | 4, WinogradAlgorithm>> = {
  2: {
    m: 2,
    n: 4,
    inputMatrix: [
      [1, 0, -1, 0],
      [0, 1, 1, 0],
      [0, -1, 1, 0],
      [0, 1, 0, -1],
    ],
    filterMatrix: [
      [1, 0, 0],
      [0.5, 0.5, 0.5],
      [0.5, -0.5, 0.5],
      [0, 0, 1],
    ],
    outputMatrix: [
      [1, 1, 1, 0],
      [0, 1, -1, -1],
    ],
  },
  4: {
    m: 4,
    n: 6,
    inputMatrix: [
      [2, 3, -4, -3, 2, 0],
      [0, 2, 5, 1, -2, 0],
      [0, 2, 1, -5, 2, 0],
      [0, -1, -2, 1, 2, 0],
      [0, -2, 1, 2, -1, 0],
      [0, 2, 3, -4, -3, 2],
    ],
    filterMatrix: [
      [1 / 2, 0, 0],
      [1 / 6, 1 / 6, 1 / 6],
      [1 / 6, -1 / 6, 1 / 6],
      [1 / 30, 1 / 15, 2 / 15],
      [16 / 15, -8 / 15, 4 / 15],
      [0, 0, 1 / 2],
    ],
    outputMatrix: [
      [1, 1, 1, 1, 1, 0],
      [0, 1, -1, 2, -0.5, 0],
      [0, 1, 1, 4, 0.25, 0],
      [0, 1, -1, 8, -0.125, 1],
    ],
  },
};

/**
 * The algorithm for an H × W output: F(`winogradTuning.outputTile`) where H and W are multiples of
 * its tile, else F(2×2, 3×3).
 */
export function winogradAlgorithmFor(height: number, width: number): WinogradAlgorithm {
  const m = winogradTuning.outputTile;
  return height % m === 0 && width % m === 0 ? winogradAlgorithms[m] : winogradAlgorithms[2];
}

/**
 * Fewest input and output channels a layer needs to run here, per algorithm (both must be
 * multiples of 4). F(2×2, 3×3): 16 (see the module comment). F(4×4, 3×3) pays off down to 4:
 * one thread, batch 32, ms Winograd / direct, 4 → 16 channels at 32×32: forward 1.96 / 2.34,
 * weight gradient 2.82 / 3.93, input gradient 3.23 / 4.92; 16 → 4: 1.41 / 2.31, 1.39 / 5.29,
 * 2.65 / 3.46.
 */
export const minChannels: Readonly<Record<2 | 4, number>> = { 2: 16, 4: 4 };

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
  if (xShape.length !== 4 || filterShape.length !== 4 || height % 2 !== 0 || width % 2 !== 0) return false;
  const least = minChannels[winogradAlgorithmFor(height, width).m];
  return (
    kh === 3 && kw === 3 && ci === inChannels && batch > 0 && height > 0 && width > 0 &&
    inChannels % 4 === 0 && co % 4 === 0 && inChannels >= least && co >= least &&
    (batch * height * width) / 4 >= minTiles
  );
}

/** The transform functions of one shape and algorithm (byte addresses into the backend heap). */
interface Transforms {
  /** x [B, H, W, Ci] → V [n², tiles, Ci] (the zero padding read as zeros, never stored). */
  readonly input: (xp: number, v: number) => void;
  /** M [n², tiles, Co] (+ bias [Co]) → y [B, H, W, Co]. */
  readonly output: (m: number, y: number, bias: number) => void;
  readonly outputNoBias: (m: number, y: number, bias: number) => void;
  /** dy [B, H, W, Co] → Ũ [n², tiles, Co] (the filter gradient's transform of each m×m block). */
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

/** The SIMD arithmetic a transform runs in: four float32 lanes, or two float64 lanes. */
interface Lanes {
  readonly add: number;
  readonly sub: number;
  readonly mul: number;
  readonly neg: number;
  /** The 16 bytes of a v128 holding `value` in every lane. */
  splat(value: number): Uint8Array;
}

const f32x4: Lanes = {
  add: SimdOp.f32x4Add,
  sub: 0xe5,
  mul: SimdOp.f32x4Mul,
  neg: 0xe1,
  splat: (value) => new Uint8Array(new Float32Array([value, value, value, value]).buffer),
};

const f64x2: Lanes = {
  add: 0xf0,
  sub: 0xf1,
  mul: 0xf2,
  neg: 0xed,
  splat: (value) => new Uint8Array(new Float64Array([value, value]).buffer),
};

/** Constant factors |c| ≠ 1 of some matrices, each splatted into a v128 local (set at the function's start). */
interface Factors {
  readonly lanes: Lanes;
  readonly locals: ReadonlyMap<number, number>;
}

function constantLocals(w: FunctionWriter, lanes: Lanes, matrices: readonly (readonly (readonly number[])[])[]): Factors {
  const locals = new Map<number, number>();
  for (const matrix of matrices) {
    for (const row of matrix) {
      for (const c of row) {
        const size = Math.abs(c);
        if (size === 0 || size === 1 || locals.has(size)) continue;
        const local = w.local(V128);
        w.simd(SimdOp.v128Const);
        w.code.push(...lanes.splat(size));
        w.set(local);
        locals.set(size, local);
      }
    }
  }
  return { lanes, locals };
}

/**
 * Push Σₖ coefficients[k]·values[k] (v128 locals; `undefined` is a zero, whose term is left out) for
 * constant coefficients: from the first term with a positive coefficient (else the first,
 * negated), then the others in order, adding or subtracting each (times its factor's local where
 * |c| ≠ 1). Pushes nothing and returns false where no term is left.
 */
function pushCombination(w: FunctionWriter, coefficients: readonly number[], values: readonly (number | undefined)[], factors: Factors): boolean {
  const { lanes, locals } = factors;
  const terms = coefficients.flatMap((c, k) => (c === 0 || values[k] === undefined ? [] : [{ c, value: values[k] }]));
  if (terms.length === 0) return false;
  const first = Math.max(0, terms.findIndex((t) => t.c > 0));
  const scaled = (t: { c: number; value: number }): void => {
    w.get(t.value);
    if (Math.abs(t.c) !== 1) w.get(locals.get(Math.abs(t.c))!).simd(lanes.mul);
  };
  scaled(terms[first]!);
  if (terms[first]!.c < 0) w.simd(lanes.neg);
  terms.forEach((t, k) => {
    if (k === first) return;
    scaled(t);
    w.simd(t.c > 0 ? lanes.add : lanes.sub);
  });
  return true;
}

/**
 * Emit out = left · in · rightᵀ on v128 locals, columns first. For each column j of in,
 * `loadColumn(j)` emits the loads it needs and returns the locals holding the column's values
 * (`undefined` for a value that is zero, or no array where the whole column is), and half[i][j] =
 * Σₖ left[i][k]·in[k][j] is set; then for each out[i][j], `store(i, j, push)` emits the store around
 * `push()`, which pushes Σₖ right[j][k]·half[i][k] and returns false, having pushed nothing, where
 * every term is zero.
 */
function transformTile(
  w: FunctionWriter,
  factors: Factors,
  [left, right]: readonly [readonly (readonly number[])[], readonly (readonly number[])[]],
  half: readonly number[],
  loadColumn: (j: number) => readonly (number | undefined)[] | undefined,
  store: (i: number, j: number, push: () => boolean) => void,
): void {
  const columns = right[0]!.length;
  const sums: (number | undefined)[] = new Array(left.length * columns).fill(undefined);
  for (let j = 0; j < columns; j++) {
    const column = loadColumn(j);
    if (column === undefined) continue;
    for (let i = 0; i < left.length; i++) {
      if (!pushCombination(w, left[i]!, column, factors)) continue;
      w.set(half[i * columns + j]!);
      sums[i * columns + j] = half[i * columns + j]!;
    }
  }
  for (let i = 0; i < left.length; i++) {
    const row = sums.slice(i * columns, i * columns + columns);
    for (let j = 0; j < right.length; j++) store(i, j, () => pushCombination(w, right[j]!, row, factors));
  }
}

/** The transpose of a matrix given as rows. */
function transpose(matrix: readonly (readonly number[])[]): number[][] {
  return matrix[0]!.map((_, j) => matrix.map((row) => row[j]!));
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

/** What `walkTiles` walks: an NHWC image and its [n², tiles, channels] tap array, both parameters of the function. */
interface TileWalk {
  /** Parameter holding the image's address: [B, H, W, channels]. */
  readonly image: number;
  /** Parameter holding the tap array's address. */
  readonly taps: number;
  readonly channels: number;
  /**
   * Emit the body separately for the tiles on each edge of the image (first and last tile row and
   * column), telling it which (`Edges`); otherwise once for all tiles, with no edge set.
   */
  readonly splitEdges: boolean;
  /** A further parameter walked with the channels and restarted at each tile (the bias), if any. */
  readonly perTile?: number;
}

/** Which edges of the image a tile lies on (known when the body is emitted). */
interface Edges {
  readonly top: boolean;
  readonly bottom: boolean;
  readonly left: boolean;
  readonly right: boolean;
}

const noEdges: Edges = { top: false, bottom: false, left: false, right: false };

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
 * `count` repetitions of `body(kind)` split as a line of tiles is: the first (kind 'first'), the
 * middle ones in a loop ('middle') and the last ('last'); one tile alone is 'only'. With `split`
 * false, one loop of `count` ('middle').
 */
function splitLoop(w: FunctionWriter, counter: number, count: number, split: boolean, body: (kind: 'first' | 'middle' | 'last' | 'only') => void): void {
  if (!split) {
    repeat(w, counter, count, () => body('middle'));
    return;
  }
  if (count === 1) {
    body('only');
    return;
  }
  body('first');
  if (count > 2) repeat(w, counter, count - 2, () => body('middle'));
  body('last');
}

/**
 * Emit the walk over every m×m tile (images, tile rows, tile columns, as the tiles are numbered)
 * and every four channels, calling `body` once per position with the addresses there and, where
 * `walk.splitEdges`, the image edges the tile lies on.
 */
function walkTiles(w: FunctionWriter, s: Shape, m: number, walk: TileWalk, body: (at: TileAt, edges: Edges) => void): void {
  const tilesY = s.height / m;
  const tilesX = s.width / m;
  const pixelBytes = 4 * walk.channels;
  const rowBytes = s.width * pixelBytes;
  const tapBytes = tapStride(s.batch * tilesY * tilesX, walk.channels);
  const [b, ty, tx, c] = [w.local(I32), w.local(I32), w.local(I32), w.local(I32)];
  const [rowBase, tileBase, pixel, tap, tapBase, perTile] = [w.local(I32), w.local(I32), w.local(I32), w.local(I32), w.local(I32), w.local(I32)];
  w.get(walk.image).set(rowBase);
  w.get(walk.taps).set(tapBase);
  repeat(w, b, s.batch, () => {
    splitLoop(w, ty, tilesY, walk.splitEdges, (row) => {
      w.get(rowBase).set(tileBase);
      splitLoop(w, tx, tilesX, walk.splitEdges, (column) => {
        const edges: Edges = walk.splitEdges
          ? { top: row === 'first' || row === 'only', bottom: row === 'last' || row === 'only', left: column === 'first' || column === 'only', right: column === 'last' || column === 'only' }
          : noEdges;
        w.get(tileBase).set(pixel);
        w.get(tapBase).set(tap);
        if (walk.perTile !== undefined) w.get(walk.perTile).set(perTile);
        repeat(w, c, walk.channels / 4, () => {
          body({ pixel, tap, perTile, pixelBytes, rowBytes, tapBytes }, edges);
          advance(w, pixel, 16);
          advance(w, tap, 16);
          if (walk.perTile !== undefined) advance(w, perTile, 16);
        });
        advance(w, tileBase, m * pixelBytes);
        advance(w, tapBase, pixelBytes);
      });
      advance(w, rowBase, m * rowBytes);
    });
  });
}

/**
 * The input transform: for each tile and four channels, V[e] = (Bᵀ d B)[e] for the n² taps e, with d
 * the n×n patch of x under the tile, reaching one row and column beyond it on every side: outside
 * the image (the 'same' convolution's zero padding) d is zero, which the tiles on the image's edges
 * drop from their sums instead of reading a padded copy of x.
 */
function inputFunction(s: Shape, alg: WinogradAlgorithm): FunctionWriter {
  const w = new FunctionWriter(2);
  const { n, inputMatrix } = alg;
  const factors = constantLocals(w, f32x4, [inputMatrix]);
  const column = Array.from({ length: n }, () => w.local(V128));
  const t = Array.from({ length: n * n }, () => w.local(V128));
  const corner = w.local(I32);
  walkTiles(w, s, alg.m, { image: 0, taps: 1, channels: s.inChannels, splitEdges: true }, (at, edges) => {
    // Patch row i is image row (tile row − 1 + i): row 0 lies above a top tile, row n − 1 below a bottom one.
    const rowInside = (i: number): boolean => !((edges.top && i === 0) || (edges.bottom && i === n - 1));
    const columnInside = (j: number): boolean => !((edges.left && j === 0) || (edges.right && j === n - 1));
    // `corner` is the first patch position read, so every load's offset is non-negative.
    const [iMin, jMin] = [edges.top ? 1 : 0, edges.left ? 1 : 0];
    w.get(at.pixel).i32((iMin - 1) * at.rowBytes + (jMin - 1) * at.pixelBytes).op(Op.i32Add).set(corner);
    // V = Bᵀ d B, stored at tap e = n·i + j; nothing is read for a row or column outside the image.
    transformTile(
      w,
      factors,
      [inputMatrix, inputMatrix],
      t,
      (j) => {
        if (!columnInside(j)) return undefined;
        for (let i = 0; i < n; i++) {
          if (rowInside(i)) w.get(corner).simdMemory(SimdOp.v128Load, (i - iMin) * at.rowBytes + (j - jMin) * at.pixelBytes, 16).set(column[i]!);
        }
        return column.map((local, i) => (rowInside(i) ? local : undefined));
      },
      (i, j, push) => {
        w.get(at.tap);
        if (!push()) w.v128Zero();
        w.simdMemory(SimdOp.v128Store, (n * i + j) * at.tapBytes, 16);
      },
    );
  });
  return w;
}

/** The output transform: for each tile and four channels, y = Aᵀ M A (+ bias) for the m×m outputs. */
function outputFunction(s: Shape, alg: WinogradAlgorithm, withBias: boolean): FunctionWriter {
  const w = new FunctionWriter(3);
  const { m, n, outputMatrix } = alg;
  const factors = constantLocals(w, f32x4, [outputMatrix]);
  const column = Array.from({ length: n }, () => w.local(V128));
  const sums = Array.from({ length: m * n }, () => w.local(V128));
  const [value, biasVector] = [w.local(V128), w.local(V128)];
  walkTiles(w, s, m, { image: 1, taps: 0, channels: s.outChannels, splitEdges: false, perTile: 2 }, (at) => {
    if (withBias) w.get(at.perTile).simdMemory(SimdOp.v128Load, 0, 16).set(biasVector);
    // y = Aᵀ M A from M's taps (n·i + j), stored at the tile's m×m pixels.
    transformTile(
      w,
      factors,
      [outputMatrix, outputMatrix],
      sums,
      (j) => {
        for (let i = 0; i < n; i++) w.get(at.tap).simdMemory(SimdOp.v128Load, (n * i + j) * at.tapBytes, 16).set(column[i]!);
        return column;
      },
      (i, j, push) => {
        w.get(at.pixel);
        push();
        if (withBias) w.set(value).get(value).get(biasVector).simd(SimdOp.f32x4Add);
        w.simdMemory(SimdOp.v128Store, i * at.rowBytes + j * at.pixelBytes, 16);
      },
    );
  });
  return w;
}

/**
 * The filter gradient's transform of dy: for each tile (an m×m block q of dy) and four channels,
 * Ũ[e] = (A q Aᵀ)[e] with A the output matrix Aᵀ transposed (n × m): column by column, then the
 * same along rows.
 */
function gradientFunction(s: Shape, alg: WinogradAlgorithm): FunctionWriter {
  const w = new FunctionWriter(2);
  const { m, n } = alg;
  const a = transpose(alg.outputMatrix);
  const factors = constantLocals(w, f32x4, [a]);
  const column = Array.from({ length: m }, () => w.local(V128));
  const r = Array.from({ length: n * m }, () => w.local(V128));
  walkTiles(w, s, m, { image: 0, taps: 1, channels: s.outChannels, splitEdges: false }, (at) => {
    // Ũ = A q Aᵀ from the block's pixels, stored at tap e = n·i + j.
    transformTile(
      w,
      factors,
      [a, a],
      r,
      (j) => {
        for (let i = 0; i < m; i++) w.get(at.pixel).simdMemory(SimdOp.v128Load, i * at.rowBytes + j * at.pixelBytes, 16).set(column[i]!);
        return column;
      },
      (i, j, push) => {
        w.get(at.tap);
        push();
        w.simdMemory(SimdOp.v128Store, (n * i + j) * at.tapBytes, 16);
      },
    );
  });
  return w;
}

/** Compiled transforms per heap and shape (a model has a handful of shapes; each compiles once). */
const compiled = new WeakMap<WebAssembly.Memory, Map<string, Transforms | null>>();

function transformsFor(memory: WebAssembly.Memory, s: Shape, alg: WinogradAlgorithm): Transforms | undefined {
  let byShape = compiled.get(memory);
  if (byShape === undefined) {
    byShape = new Map();
    compiled.set(memory, byShape);
  }
  const key = `${alg.m}:${s.batch},${s.height},${s.width},${s.inChannels},${s.outChannels},${winogradTuning.tapSkewBytes}`;
  let found = byShape.get(key);
  if (found === undefined) {
    try {
      const module = new WebAssembly.Module(
        encodeModule(
          [
            { params: [I32, I32], body: inputFunction(s, alg), exportName: 'input' },
            { params: [I32, I32, I32], body: outputFunction(s, alg, true), exportName: 'output' },
            { params: [I32, I32, I32], body: outputFunction(s, alg, false), exportName: 'outputNoBias' },
            { params: [I32, I32], body: gradientFunction(s, alg), exportName: 'gradient' },
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

/** The filter transforms of one algorithm, over `pairs` (input, output) channel pairs (byte addresses into a heap). */
export interface FilterTransforms {
  /** U = G g Gᵀ: filter [3, 3, pairs] → U [n², pairs]. */
  readonly forward: (filter: number, u: number, pairs: number) => void;
  /** dW = Gᵀ W̃ G: W̃ [n², pairs] → dW [3, 3, pairs]. */
  readonly backward: (product: number, dw: number, pairs: number) => void;
}

const v128Load64Zero = 0x5d;
const v128Store64Lane = 0x5b;
const f64x2PromoteLow = 0x5f;
const f32x4DemoteZero = 0x5e;

/**
 * One filter transform: for each two channel pairs (`pairs` even), read the `inTaps` float32 taps
 * (laid out [inTaps, pairs]) as float64, apply `left` to their rows and `right` to their columns
 * (out = left · in · rightᵀ, in [rows × cols] → out [left rows × right rows]), and write the result
 * rounded once to float32 ([outTaps, pairs]). Sums run in float64, so each value is the exactly
 * rounded transform up to float64 rounding.
 */
function filterFunction(left: readonly (readonly number[])[], right: readonly (readonly number[])[]): FunctionWriter {
  const w = new FunctionWriter(3);
  const [src, dst, pairs] = [0, 1, 2];
  const [rows, cols] = [left[0]!.length, right[0]!.length];
  const outCols = right.length;
  const factors = constantLocals(w, f64x2, [left, right]);
  const [stride, offset, end] = [w.local(I32), w.local(I32), w.local(I32)];
  const input = Array.from({ length: rows * cols }, () => w.local(V128));
  const half = Array.from({ length: left.length * cols }, () => w.local(V128));
  w.get(pairs).i32(4).op(Op.i32Mul).tee(stride).set(end);
  w.i32(0).set(offset);
  w.begin(Op.block).begin(Op.loop);
  w.get(offset).get(end).op(Op.i32GeU).branch(Op.brIf, 1);
  for (let t = 0; t < rows * cols; t++) {
    w.get(src).get(offset).op(Op.i32Add).get(stride).i32(t).op(Op.i32Mul).op(Op.i32Add);
    w.simdMemory(v128Load64Zero, 0, 8).simd(f64x2PromoteLow).set(input[t]!);
  }
  transformTile(
    w,
    factors,
    [left, right],
    half,
    (c) => Array.from({ length: rows }, (_, r) => input[r * cols + c]!),
    (r, c, push) => {
      w.get(dst).get(offset).op(Op.i32Add).get(stride).i32(r * outCols + c).op(Op.i32Mul).op(Op.i32Add);
      push();
      w.simd(f32x4DemoteZero).simdMemory(v128Store64Lane, 0, 8);
      w.code.push(0);
    },
  );
  w.get(offset).i32(8).op(Op.i32Add).set(offset);
  w.branch(Op.br, 0);
  w.op(Op.end).op(Op.end);
  return w;
}

/** Compiled filter transforms per heap and algorithm. */
const filterTransforms = new WeakMap<WebAssembly.Memory, Map<number, FilterTransforms | null>>();

/**
 * The filter transforms of `alg` bound to `memory`: forward U = G g Gᵀ (left = right = G) and
 * backward dW = Gᵀ W̃ G (left = right = Gᵀ), F(3×3, m×m) being the transpose of F(m×m, 3×3);
 * undefined where this engine cannot compile them.
 */
export function filterTransformsFor(memory: WebAssembly.Memory, alg: WinogradAlgorithm): FilterTransforms | undefined {
  let byAlgorithm = filterTransforms.get(memory);
  if (byAlgorithm === undefined) {
    byAlgorithm = new Map();
    filterTransforms.set(memory, byAlgorithm);
  }
  let found = byAlgorithm.get(alg.m);
  if (found === undefined) {
    const g = alg.filterMatrix;
    const gT = transpose(g);
    try {
      const module = new WebAssembly.Module(
        encodeModule(
          [
            { params: [I32, I32, I32], body: filterFunction(g, g), exportName: 'forward' },
            { params: [I32, I32, I32], body: filterFunction(gT, gT), exportName: 'backward' },
          ],
          1,
        ),
      );
      found = new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as FilterTransforms;
    } catch {
      found = null;
    }
    byAlgorithm.set(alg.m, found);
  }
  return found ?? undefined;
}

/**
 * How the transformed tiles are laid out and walked (mutable so tests and benches can compare).
 *
 * `tapSkewBytes`: the n² taps' [tiles, channels] matrices of V, M and Ũ lie one cache line
 * further apart than their size. A tile's transform writes (or reads) one vector in each of the n²;
 * at a distance that is a multiple of 4 KB (every power-of-two shape) all n² fall in one L1 cache
 * set, more than its 12 ways, and every access missed.
 *
 * `chunkBytes`: both paths run image chunk by image chunk (transform, multiply, transform back), so
 * a chunk's n²·tiles·(Ci + Co) floats are read back while in L2 rather than after whole-batch
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
export const winogradTuning: { chunkBytes: number; tapSkewBytes: number; outputTile: 2 | 4 } = { chunkBytes: 512 * 1024, tapSkewBytes: 64, outputTile: 4 };

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
  readonly filter: FilterTransforms;
  readonly shape: Shape;
  readonly alg: WinogradAlgorithm;
  /** Taps, n². */
  readonly taps: number;
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
  const alg = winogradAlgorithmFor(height, width);
  const taps = alg.n * alg.n;
  const filter = filterTransformsFor(memory, alg);
  if (filter === undefined) return undefined;
  const imageTiles = (height / alg.m) * (width / alg.m);
  const perChunk = Math.max(1, Math.min(batch, Math.floor(winogradTuning.chunkBytes / (4 * taps * imageTiles * (inChannels + outChannels)))));
  const chunks: Chunk[] = [];
  for (let first = 0; first < batch; first += perChunk) {
    const images = Math.min(perChunk, batch - first);
    const transforms = transformsFor(memory, { ...shape, batch: images }, alg);
    if (transforms === undefined) return undefined;
    chunks.push({ first, images, tiles: images * imageTiles, transforms });
  }
  return { gemm, filter, shape, alg, taps, chunks, chunkTiles: perChunk * imageTiles };
}

/** Heap addresses `runPlan` hands to the work (taken once: nothing allocates while it runs). */
interface PlanAddresses {
  /** One chunk's input transform V [n², chunk tiles, Ci], filled before each `chunk` call. */
  readonly v: number;
  readonly buffers: readonly number[];
  readonly scratch: number;
  /** The result at its start. */
  readonly result: number;
}

/**
 * Allocate one chunk's input transform V, the buffers of `shapes`, the GEMM's
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
  const v = backend.makeOutput([(p.taps * tapStride(p.chunkTiles, inChannels)) / 4], 'float32');
  const buffers = shapes.map((shape) => backend.makeOutput(shape, 'float32'));
  const scratch = call.scratchBytes > 0 ? backend.makeOutput([call.scratchBytes / 4], 'float32') : undefined;
  const result = backend.makeOutput(resultShape, 'float32');
  let done = false;
  try {
    // Addresses are taken after every allocation, since one may grow the heap.
    const address = (info: TensorInfo): number => backend.typedArrayFromHeap(info).byteOffset;
    const at: PlanAddresses = { v: address(v), buffers: buffers.map(address), scratch: scratch === undefined ? 0 : address(scratch), result: address(result) };
    const xAt = address(x);
    const imageBytes = 4 * height * width * inChannels;
    work.before?.(at);
    for (const chunk of p.chunks) {
      chunk.transforms.input(xAt + chunk.first * imageBytes, at.v);
      work.chunk(chunk, at);
    }
    work.after?.(at);
    done = true;
  } finally {
    release(backend, v, ...buffers);
    if (scratch !== undefined) release(backend, scratch);
    if (!done) release(backend, result);
  }
  return result;
}

/**
 * y = conv2d(x, filter, stride 1, pad 1) (+ bias) for x [B, H, W, Ci] (H, W even) and filter
 * [3, 3, Ci, Co] with Ci, Co multiples of 4 and at least `minChannels` of its algorithm, on the backend heap; a new
 * [B, H, W, Co] tensor. Undefined where it does not apply (`winogradApplies`) or the SIMD modules
 * cannot run on this heap, so the caller falls back to a direct convolution.
 */
export function winogradConv3x3(backend: WasmBackendLike, x: TensorInfo, filter: TensorInfo, bias?: TensorInfo): TensorInfo | undefined {
  if (filter.dtype !== 'float32' || filter.shape.length !== 4 || filter.shape[0] !== 3 || filter.shape[1] !== 3 || filter.shape[2] !== x.shape[3]) return undefined;
  const [inChannels, outChannels] = [filter.shape[2]!, filter.shape[3]!];
  if (bias !== undefined && (bias.dtype !== 'float32' || bias.shape.length !== 1 || bias.shape[0] !== outChannels)) return undefined;
  if (inChannels % 4 === 0 && outChannels % 4 === 0) return convolve(backend, x, filter, bias);
  if (!thinApplies(x.shape, outChannels)) return undefined;
  const [ci, co] = [paddedChannels(inChannels), paddedChannels(outChannels)];
  return withPadded(backend, [[x, 3, ci], [filter, 2, ci, 3, co], ...(bias === undefined ? [] : [[bias, 0, co] as Padding])], ([xP, fP, bP]) => {
    const y = convolve(backend, xP!, fP!, bP);
    if (y === undefined || co === outChannels) return y;
    try {
      return resizeAxes(backend, y, [[3, outChannels]]);
    } finally {
      release(backend, y);
    }
  });
}

/**
 * Channels padded with zeros up to a multiple of 4: F(4×4, 3×3) takes layers whose channels are not
 * (the image convolutions' 3) through zero-padded copies, which is exact (the extra channels add
 * zeros). One thread, batch 32, 32×32, ms Winograd on the padded copies / direct: 16 → 3 channels
 * forward 1.41 / 2.31 and weight gradient 1.39 / 6.68.
 */
function paddedChannels(channels: number): number {
  return Math.ceil(channels / 4) * 4;
}

/**
 * Whether x [B, H, W, Ci] with Co output channels runs here through channel-padded copies: F(4×4)
 * only, and one padding channel at most per side (3 → 4; 1 or 2 channels would multiply the
 * products' work by 2–4 and stay direct).
 */
function thinApplies(xShape: readonly number[], outChannels: number): boolean {
  const [batch, height, width, inChannels] = xShape as [number, number, number, number];
  if (xShape.length !== 4 || height % 4 !== 0 || width % 4 !== 0 || winogradAlgorithmFor(height, width).m !== 4) return false;
  if (paddedChannels(inChannels) - inChannels > 1 || paddedChannels(outChannels) - outChannels > 1) return false;
  return winogradApplies([batch, height, width, paddedChannels(inChannels)], [3, 3, paddedChannels(inChannels), paddedChannels(outChannels)]);
}

/** A tensor with up to two axes resized: [tensor, axis, size] or [tensor, axis, size, axis, size]. */
type Padding = readonly [TensorInfo, number, number] | readonly [TensorInfo, number, number, number, number];

/**
 * Run `work` on copies of the tensors with their axes resized (zero-filled where they grow; a tensor
 * whose axes already have those sizes is passed as it is), releasing the copies afterwards.
 */
function withPadded<T>(backend: WasmBackendLike, paddings: readonly Padding[], work: (padded: (TensorInfo | undefined)[]) => T): T {
  const made: TensorInfo[] = [];
  try {
    const padded = paddings.map(([tensor, ...rest]) => {
      const axes: [number, number][] = [];
      for (let k = 0; k < rest.length; k += 2) if (tensor.shape[rest[k]!] !== rest[k + 1]) axes.push([rest[k]!, rest[k + 1]!]);
      if (axes.length === 0) return tensor;
      const copy = resizeAxes(backend, tensor, axes);
      made.push(copy);
      return copy;
    });
    return work(padded);
  } finally {
    release(backend, ...made);
  }
}

/**
 * A copy of a float32 tensor with `axes` resized ([axis, size] pairs, applied in turn): each slice
 * along the axis up to the smaller size copied, the rest zero.
 */
function resizeAxes(backend: WasmBackendLike, tensor: TensorInfo, axes: readonly (readonly [number, number])[]): TensorInfo {
  let current = tensor;
  for (const [axis, size] of axes) {
    const shape = [...current.shape];
    const from = shape[axis]!;
    const outer = shape.slice(0, axis).reduce((a, b) => a * b, 1);
    const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
    shape[axis] = size;
    const out = backend.makeOutput(shape, 'float32');
    // Views after the allocation, which may have grown the heap.
    const src = backend.typedArrayFromHeap(current) as Float32Array;
    const dst = backend.typedArrayFromHeap(out) as Float32Array;
    const [kept, srcRow, dstRow] = [Math.min(from, size) * inner, from * inner, size * inner];
    if (size > from) dst.fill(0);
    for (let o = 0; o < outer; o++) {
      if (kept >= 64) dst.set(src.subarray(o * srcRow, o * srcRow + kept), o * dstRow);
      else for (let k = 0; k < kept; k++) dst[o * dstRow + k] = src[o * srcRow + k]!;
    }
    if (current !== tensor) release(backend, current);
    current = out;
  }
  return current;
}

/** `winogradConv3x3` for channels that are multiples of 4. */
function convolve(backend: WasmBackendLike, x: TensorInfo, filter: TensorInfo, bias?: TensorInfo): TensorInfo | undefined {
  const outChannels = filter.shape[3]!;
  const p = planFor(backend, x, outChannels);
  if (p === undefined) return undefined;
  const { batch, height, width, inChannels } = p.shape;
  const call = gemmCall(p.gemm, false, outChannels, inChannels);
  const imageBytes = 4 * height * width * outChannels;
  const taps = p.taps;
  return runPlan(backend, x, p, call, [[taps, inChannels, outChannels], [(taps * tapStride(p.chunkTiles, outChannels)) / 4]], [batch, height, width, outChannels], {
    before: ({ buffers: [u] }) => {
      p.filter.forward(backend.typedArrayFromHeap(filter).byteOffset, u!, inChannels * outChannels);
    },
    chunk: (chunk, { v, buffers: [u, m], result, scratch }) => {
      // One product per tap: M's taps lie tapStride apart, which the batched call cannot write.
      const [vStep, mStep] = [tapStride(chunk.tiles, inChannels), tapStride(chunk.tiles, outChannels)];
      for (let e = 0; e < taps; e++) {
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
 * dW[ky, kx] = (Gᵀ W̃ G)[ky, kx] for every channel pair of W̃ [n², Ci, Co], written as [3, 3, Ci, Co]
 * into `out` (F(3×3, m×m), the transpose of F(m×m, 3×3), whose filter matrix G becomes the output
 * matrix; in float64, each value rounded once where `out` is float32).
 */
export function untransformFilterGradient(w: Float32Array | Float64Array, inChannels: number, outChannels: number, out: Float32Array | Float64Array, alg: WinogradAlgorithm): void {
  const pairs = inChannels * outChannels;
  const { n, filterMatrix: g } = alg;
  const h = new Float64Array(3 * n);
  for (let k = 0; k < pairs; k++) {
    // (Gᵀ W̃): 3 rows × n columns.
    h.fill(0);
    for (let r = 0; r < n; r++) {
      for (let col = 0; col < n; col++) {
        const value = w[(n * r + col) * pairs + k]!;
        for (let ky = 0; ky < 3; ky++) h[n * ky + col]! += g[r]![ky]! * value;
      }
    }
    for (let ky = 0; ky < 3; ky++) {
      for (let kx = 0; kx < 3; kx++) {
        let sum = 0;
        for (let col = 0; col < n; col++) sum += h[n * ky + col]! * g[col]![kx]!;
        out[(3 * ky + kx) * pairs + k] = sum;
      }
    }
  }
}

/**
 * The weight gradient dW [3, 3, Ci, Co] of y = conv2d(x, W, stride 1, pad 1) given dy [B, H, W, Co],
 * by F(3×3, m×m) over the same tiles as the forward: per tap e, W̃[e] = V[e]ᵀ·Ũ[e] with V the
 * forward's input transform of x and Ũ the transform of dy's m×m blocks (one product over all
 * tiles, K = tiles, on the SIMD GEMM with A read transposed), then dW = Gᵀ W̃ G per channel pair.
 * Undefined where it does not apply, as `winogradConv3x3`.
 */
export function winogradFilterGradient(backend: WasmBackendLike, x: TensorInfo, dy: TensorInfo): TensorInfo | undefined {
  if (dy.dtype !== 'float32' || dy.shape.length !== 4 || x.shape.length !== 4 || x.shape.slice(0, 3).some((d, i) => d !== dy.shape[i])) return undefined;
  const [inChannels, outChannels] = [x.shape[3]!, dy.shape[3]!];
  if (inChannels % 4 === 0 && outChannels % 4 === 0) return filterGradient(backend, x, dy);
  if (!thinApplies(x.shape, outChannels)) return undefined;
  const [ci, co] = [paddedChannels(inChannels), paddedChannels(outChannels)];
  return withPadded(backend, [[x, 3, ci], [dy, 3, co]], ([xP, dyP]) => {
    const dw = filterGradient(backend, xP!, dyP!);
    if (dw === undefined) return undefined;
    try {
      return resizeAxes(backend, dw, [[2, inChannels], [3, outChannels]]);
    } finally {
      release(backend, dw);
    }
  });
}

/** `winogradFilterGradient` for channels that are multiples of 4. */
function filterGradient(backend: WasmBackendLike, x: TensorInfo, dy: TensorInfo): TensorInfo | undefined {
  const p = planFor(backend, x, dy.shape[3]!);
  if (p === undefined) return undefined;
  const { height, width, inChannels, outChannels } = p.shape;
  const first = gemmCall(p.gemm, true, outChannels, p.chunkTiles);
  const rest = gemmCall(p.gemm, true, outChannels, p.chunkTiles, { accumulate: true });
  const dyImageBytes = 4 * height * width * outChannels;
  return runPlan(backend, x, p, first, [[(p.taps * tapStride(p.chunkTiles, outChannels)) / 4], [p.taps, inChannels, outChannels]], [3, 3, inChannels, outChannels], {
    chunk: (chunk, { v, buffers: [u, product], scratch }) => {
      chunk.transforms.gradient(backend.typedArrayFromHeap(dy).byteOffset + chunk.first * dyImageBytes, u!);
      const call = chunk.first === 0 ? first : rest;
      call.run(v, u!, product!, p.taps, tapStride(chunk.tiles, inChannels), tapStride(chunk.tiles, outChannels), inChannels, outChannels, chunk.tiles, call.kBlock, call.nBlock, scratch);
    },
    after: ({ buffers: [, product], result }) => {
      p.filter.backward(product!, result, inChannels * outChannels);
    },
  });
}
