import { F32, FunctionWriter, I32, Op, SimdOp, V128, encodeModule, type FunctionSpec } from '@gq/codebook/internal';
import { f32x4RelaxedMadd, relaxedSimdAvailable } from './relaxed-simd.js';
import type { WasmBackendLike } from './wasm-ops.js';

/*
 * A float32 GEMM, out[b] = A[b]·B[b] for B[b] = [K, N] row-major and A[b] either [M, K] row-major
 * or stored transposed as [K, M] (so Aᵀ·B is multiplied without materialising the transpose), as
 * 128-bit SIMD WebAssembly emitted at run time. It imports the wasm backend's own memory, so it
 * reads operands and writes the product where the tensors lie (all addresses are byte offsets
 * into that heap).
 *
 * Why: tfjs-backend-wasm hands only untransposed batch-1 products to XNNPACK; batched ones
 * (attention's [B·heads, T, d] × [B·heads, d, T]) run a scalar triple loop at about 1 GFLOP/s, and
 * a linear layer's weight gradient dW = xᵀ·dy ([2048, 512]ᵀ·[2048, 128] in a ViT step) paid a
 * materialised transpose of x (9.6 of its 21.4 ms) before XNNPACK, which itself reaches only
 * 21–30 GFLOP/s with K = 2048.
 *
 * How: the output is cut into register tiles of `rows` rows × 4·`vectors` columns (`GemmTile`),
 * each held in f32x4 accumulators for a whole K block, so every loaded B vector is used `rows`
 * times and every broadcast A element `vectors` times. The 4 × 8 tile needs 8 accumulators, 2 B
 * vectors, one broadcast and a product temporary: 12 of the 15 xmm registers V8 allocates on x64,
 * so nothing spills. Measured on the [128, 64, 32]·[128, 32, 64] and [128, 64, 64]·[128, 64, 32]
 * products (x64, one thread, kernel alone): 4 × 8 and 2 × 16 about 40 GFLOP/s, near the
 * 4 f32x4 ops per cycle such a core issues without fused multiply-add; 6 × 8, 4 × 12 and 8 × 8
 * 15–25 GFLOP/s (spills). Rows left over (M not a multiple of the tile) get 4-row (for taller
 * tiles), then 1-row tiles; columns left over get one-vector tiles, then single columns with
 * scalar f32 accumulators.
 *
 * A transposed A holds a tile's 4 elements at one k side by side. Broadcasting them with one
 * `v128.load32_splat` each (immediate offsets 0, 4, 8, 12) measured as fast as or faster than one
 * v128 load and then an `i8x16.shuffle` or `f32x4.extract_lane` + `f32x4.splat` per row:
 * [2048, 512]ᵀ·[2048, 128] 14.1 / 14.9 / 16.4 ms, attention's [128, 64, 64]ᵀ·[128, 64, 32]
 * 0.83 / 0.89 / 1.08 ms (same run, unblocked). So both layouts use load32_splat.
 *
 * Blocking and packing: with K = 2048 every tile walked 2048 rows of B (and of a transposed A)
 * 4·N (4·M) bytes apart, and B was read again from L3 for every row block: 14–18 ms for the
 * transposed [2048, 512]ᵀ·[2048, 128] unblocked, 8–9 ms in K blocks of 64. The product therefore runs in K blocks (256) ×
 * column blocks (512, `gemmBlocks`); a tile's accumulators start from out after the first K block,
 * so every output is still summed over k in ascending order in float32, whatever the blocks and
 * tiles, like tfjs's own kernels. The `Packed` functions also copy each block of B into
 * contiguous per-tile panels (kBlock × tile width) and, for a transposed A, each row block's strip
 * into [k][rows], so the tiles read both sequentially: the B block stays in L2 across row blocks
 * and no page or cache set is revisited at a 4·N-byte stride (N ≥ 1024 had made the unpacked
 * transposed-A kernel 0.5–0.8× as fast as transpose + XNNPACK). Same run, kernel alone, ms, unpacked K
 * blocks of 64 / packed 64 × 512: [2048, 512]ᵀ·[2048, 128] 11.6 / 7.2, [2048, 128]ᵀ·[2048, 512]
 * 13.3 / 10.6, [256, 128]ᵀ·[256, 1024] 2.6 / 1.7, [256, 1024]ᵀ·[256, 1024] 40.6 / 21.3; K blocks of
 * 64–512 measured alike once packed (256 chosen), column blocks of 256–1024 too (512 chosen).
 * Copying costs 5–15 % where the operands are small enough to stay in L1 anyway (attention's
 * [128, 64, 32]-sized products: 0.79–0.82 ms unpacked, 0.84–0.93 ms packed), so `gemmCall` packs
 * only when a block of B exceeds 32 KB.
 *
 * Bias: the `…Bias` functions start each tile's accumulators at bias[column] instead of 0 in the
 * first K block (out = bias + Σ, summed in order), so a linear layer's y = x·W + b costs no pass
 * beyond the product (`_FusedMatMul`, see batch-mat-mul.ts). A second pass adding the bias to a
 * [2048, 384] output would read and write 3 MB again, about 5 % of the product.
 *
 * Accumulate: the `…Accumulate` functions start every tile from out in every K block, so a
 * product whose K is too long to keep its operands in cache (the Winograd weight gradient's
 * K = tiles) runs as several calls over consecutive parts of K with the same sums, in the same
 * order, as one call.
 *
 * Multiply–add: with `fusedMultiplyAdd` each step of a vector tile is one f32x4.relaxed_madd (see
 * relaxed-simd.ts), which x64 runs as one FMA instruction rounded once, where f32x4.mul then
 * f32x4.add take two instructions, each rounded. It frees the product temporary and halves the
 * arithmetic instructions of the K loop. Measured on one quiet x64 thread (Sapphire Rapids), a
 * tiny32 UNet training step at batch 32: 484 / 484 ms separate, 434 / 417 ms fused (two runs of
 * each, alternated; all of the difference is in the convolutions, whose products run here). With
 * the product temporary gone, taller or wider tiles (5 × 8, 6 × 8, 4 × 12, 3 × 16) still measured
 * 12–18 % slower than 4 × 8. Sums keep their order; only the rounding of each multiply–add
 * differs, within float32 rounding of the separate form. The scalar columns (N mod 4) multiply and
 * add separately, as relaxed SIMD has no scalar form.
 */

/** Opcodes beyond the emitter's set (WebAssembly core 1.0). */
const Extra = {
  else: 0x05,
  select: 0x1b,
  i32LeU: 0x4d,
  i32Sub: 0x6b,
  f32Const: 0x43,
  f32Add: 0x92,
  f32Mul: 0x94,
} as const;

/** A register tile: `rows` rows of A × `vectors` f32x4 vectors (4 columns each) of B. */
export interface GemmTile {
  readonly rows: number;
  readonly vectors: number;
}

/** The tile the kernel uses (the measurements are in the module comment). */
export const defaultTile: GemmTile = { rows: 4, vectors: 2 };

/**
 * One exported product: for each t in [0, batch), out[t] = A[t]·B[t] with A[t] at `a + t·aStep`,
 * B[t] ([k, n] row-major) at `b + t·bStep` and out[t] ([m, n]) at `out + t·4·m·n`; a step of 0
 * repeats one matrix for every batch entry (tfjs's broadcast of a batch dimension of 1). The
 * product runs in blocks of `kBlock` steps of k × `nBlock` columns (0 for the whole of k, resp. n);
 * `scratch` is a buffer of `scratchBytes` bytes for the packed operands. `bias` (read by the
 * `…Bias` functions only, ignored by the others) is the address of n floats added to every row of
 * every out[t]. `out` must overlap neither operand, the bias nor the scratch buffer.
 */
export type GemmFunction = (
  a: number,
  b: number,
  out: number,
  batch: number,
  aStep: number,
  bStep: number,
  m: number,
  n: number,
  k: number,
  kBlock: number,
  nBlock: number,
  scratch: number,
  bias?: number,
) => void;

/** The emitted functions, callable with byte offsets into the backend heap. */
export interface BatchedGemmSimd {
  /** A[t] row-major [m, k]. */
  readonly gemm: GemmFunction;
  /** As `gemm`, packing B's blocks (and nothing of A) into `scratch` first. */
  readonly gemmPacked: GemmFunction;
  /** A[t] stored transposed, row-major [k, m]: out[t] = A[t]ᵀ·B[t] of the stored matrices. */
  readonly gemmTransposedA: GemmFunction;
  /** As `gemmTransposedA`, packing B's blocks and each row block's strip of A into `scratch` first. */
  readonly gemmTransposedAPacked: GemmFunction;
  /** The four functions above, each adding `bias` (n floats) to every output row. */
  readonly gemmBias: GemmFunction;
  readonly gemmPackedBias: GemmFunction;
  readonly gemmTransposedABias: GemmFunction;
  readonly gemmTransposedAPackedBias: GemmFunction;
  /** The first four, each adding the product to what out holds (out[t] += A[t]·B[t]). */
  readonly gemmAccumulate: GemmFunction;
  readonly gemmPackedAccumulate: GemmFunction;
  readonly gemmTransposedAAccumulate: GemmFunction;
  readonly gemmTransposedAPackedAccumulate: GemmFunction;
}

/** Where a product's sums start: at 0, at the bias row, or at what out already holds. */
type Start = 'zero' | 'bias' | 'out';

/** The effective block sizes (0 or more than the dimension means the whole dimension). */
function blockSizes(k: number, n: number, kBlock: number, nBlock: number): { kBlock: number; nBlock: number } {
  return { kBlock: kBlock <= 0 || kBlock > k ? k : kBlock, nBlock: nBlock <= 0 || nBlock > n ? n : nBlock };
}

/** Bytes of scratch a packed product needs: a K block × column block of B and a K block × tile rows of A. */
export function scratchBytes(tile: GemmTile, k: number, n: number, kBlock: number, nBlock: number): number {
  const blocks = blockSizes(k, n, kBlock, nBlock);
  return 4 * blocks.kBlock * (blocks.nBlock + tile.rows);
}

/**
 * Block sizes of every product: K blocks of 256 keep a tile's packed A strip (4 KB) in L1 and, with
 * column blocks of 512, the packed B block (512 KB) in a 1 MB L2 while every row block reads it.
 */
export const gemmBlocks = { kBlock: 256, nBlock: 512 } as const;

/** Products whose B block is at most this many bytes (an L1 data cache) are not packed. */
const unpackedBBytes = 32 * 1024;

/** One product's function and arguments beyond the operands. */
export interface GemmCall {
  readonly run: GemmFunction;
  readonly kBlock: number;
  readonly nBlock: number;
  /** Scratch the call needs (0 for an unpacked one). */
  readonly scratchBytes: number;
}

/** Options of `gemmCall`. */
export interface GemmCallOptions {
  /** The tile the kernel was emitted with (sizes the scratch buffer; default `defaultTile`). */
  readonly tile?: GemmTile;
  /** Whether the call adds a bias row (a `…Bias` function; default false). */
  readonly bias?: boolean;
  /**
   * Whether the call adds the product to what out holds (an `…Accumulate` function; default
   * false), so a product over a long K can run in parts (in ascending k, the sums are the same).
   */
  readonly accumulate?: boolean;
}

/**
 * The function for a product with A [m, k] (`transposedA`: stored [k, m]) and B [k, n]: packed
 * where B's block outgrows L1, since there strided reads of B (and of a transposed A) cost more
 * than copying them once per block; unpacked below, where the copy costs 5–15 % (see the module
 * comment).
 */
export function gemmCall(kernel: BatchedGemmSimd, transposedA: boolean, n: number, k: number, options: GemmCallOptions = {}): GemmCall {
  const { tile = defaultTile, bias = false, accumulate = false } = options;
  if (bias && accumulate) throw new Error(`gemmCall: a call either adds a bias or accumulates into out, not both`);
  const { kBlock, nBlock } = gemmBlocks;
  const blocks = blockSizes(k, n, kBlock, nBlock);
  const packed = 4 * blocks.kBlock * blocks.nBlock > unpackedBBytes;
  const name = `gemm${transposedA ? 'TransposedA' : ''}${packed ? 'Packed' : ''}${bias ? 'Bias' : ''}${accumulate ? 'Accumulate' : ''}` as keyof BatchedGemmSimd;
  return { run: kernel[name], kBlock, nBlock, scratchBytes: packed ? scratchBytes(tile, k, n, kBlock, nBlock) : 0 };
}

/** How A is laid out: 'rows' is [m, k] (k contiguous), 'columns' is [k, m] (m contiguous). */
type Layout = 'rows' | 'columns';

/** A byte stride known when the module is emitted, or held in a local. */
type Stride = { readonly constant: number } | { readonly local: number };

/** Push a stride's value. */
function pushStride(w: FunctionWriter, s: Stride): void {
  if ('constant' in s) w.i32(s.constant);
  else w.get(s.local);
}

/** The locals shared by every tile of one product. */
interface Frame {
  readonly layout: Layout;
  /** Whether vector tiles multiply and add with f32x4.relaxed_madd (else f32x4.mul, f32x4.add). */
  readonly fusedMultiplyAdd: boolean;
  /** Whether the tiles read B from packed panels (and a 'columns' A from a packed strip). */
  readonly packed: boolean;
  /** The bias address parameter, where accumulators start from the bias rather than 0. */
  readonly bias: number | undefined;
  /** Bytes between consecutive k of A as stored (4, or 4·m for 'columns'). */
  readonly aKBytes: number;
  /** Byte length of a row of B and of out (4·n). */
  readonly bRowBytes: number;
  /** Address of A (as stored) at the current row block and K block. */
  readonly aRow: number;
  /** Address of out's current row block. */
  readonly outRow: number;
  /** Address of B (as stored) at the current K block. */
  readonly bK: number;
  /** Steps of k in the current K block. */
  readonly kLength: number;
  /** 1 in the first K block (accumulators start at 0), else 0 (they start from out). */
  readonly first: number;
  /** Byte offset of the current column block's first column, and of the current tile's. */
  readonly n0: number;
  readonly column: number;
  /** The packed B panels of the current block, and the packed A strip of the current row block. */
  readonly scratch: number;
  readonly aPack: number;
  /** K-loop cursors: address of A's element (the tile's row 0) at the current k, of B's, and A's end. */
  readonly pa: number;
  readonly pb: number;
  readonly aEnd: number;
  /** Byte offsets r·4·k of A's rows ('rows' layout) and r·4·n of out's, for r < tile rows (entry 0 unused). */
  readonly aOffsets: readonly number[];
  readonly outOffsets: readonly number[];
}

/** Push `base + offsets[r]` (just `base` for row 0). */
function rowAddress(w: FunctionWriter, base: number, offsets: readonly number[], r: number): void {
  w.get(base);
  if (r > 0) w.get(offsets[r]!).op(Op.i32Add);
}

/** Whether the tiles read A from the packed strip. */
function readsPackedA(f: Frame): boolean {
  return f.layout === 'columns' && f.packed;
}

/** Bytes the A cursor moves per k in a tile of `rows` rows. */
function aStride(f: Frame, rows: number): Stride {
  if (f.layout === 'rows') return { constant: 4 };
  return readsPackedA(f) ? { constant: 4 * rows } : { local: f.aKBytes };
}

/** Push the address of A's element for row r of the tile at the cursor, leaving `offset` for the load. */
function aElement(w: FunctionWriter, f: Frame, r: number): number {
  if (f.layout === 'rows') {
    rowAddress(w, f.pa, f.aOffsets, r);
    return 0;
  }
  w.get(f.pa);
  return 4 * r;
}

/**
 * The K loop of one tile `width` columns wide over the current K block: `perK()` is emitted once
 * per k (B loads), then `step(r)` once per row.
 */
function kLoop(w: FunctionWriter, f: Frame, rows: number, width: number, perK: () => void, step: (r: number) => void): void {
  const stride = aStride(f, rows);
  w.get(readsPackedA(f) ? f.aPack : f.aRow).tee(f.pa).get(f.kLength);
  pushStride(w, stride);
  w.op(Op.i32Mul).op(Op.i32Add).set(f.aEnd);
  if (f.packed) w.get(f.column).get(f.n0).op(Extra.i32Sub).get(f.kLength).op(Op.i32Mul).get(f.scratch).op(Op.i32Add).set(f.pb);
  else w.get(f.bK).get(f.column).op(Op.i32Add).set(f.pb);
  w.begin(Op.block).begin(Op.loop);
  w.get(f.pa).get(f.aEnd).op(Op.i32GeU).branch(Op.brIf, 1);
  perK();
  for (let r = 0; r < rows; r++) step(r);
  w.get(f.pa);
  pushStride(w, stride);
  w.op(Op.i32Add).set(f.pa);
  w.get(f.pb);
  pushStride(w, f.packed ? { constant: 4 * width } : { local: f.bRowBytes });
  w.op(Op.i32Add).set(f.pb);
  w.branch(Op.br, 0);
  w.op(Op.end).op(Op.end);
}

/** Push the address of out[row r of the block, current column]. */
function outAddress(w: FunctionWriter, f: Frame, r: number): void {
  rowAddress(w, f.outRow, f.outOffsets, r);
  w.get(f.column).op(Op.i32Add);
}

/**
 * `if (first) { tile(zero) } else { tile(load) }`: the accumulators start at 0 in the first K block
 * and at the previous blocks' sums (read back from out) after it. The whole tile is emitted twice
 * rather than only its start: with the branch around the initialisation alone, the engine merges
 * every accumulator at the join, which cost 5 % on attention-sized products (one K block).
 */
function startingFrom(w: FunctionWriter, f: Frame, tile: (start: 'zero' | 'out') => void): void {
  w.get(f.first).begin(Op.if);
  tile('zero');
  w.op(Extra.else);
  tile('out');
  w.op(Op.end);
}

/**
 * A `rows` × 4·`vectors` tile of f32x4 accumulators at the current row block and column;
 * `acc[r][v]` are the accumulators, `bv` holds the B vectors and (last) the broadcast A element.
 */
function vectorTile(w: FunctionWriter, f: Frame, rows: number, vectors: number, acc: readonly (readonly number[])[], bv: readonly number[]): void {
  const at = (r: number, v: number): number => acc[r]![v]!;
  const splat = bv[bv.length - 1]!;
  startingFrom(w, f, (start) => {
    for (let r = 0; r < rows; r++) {
      for (let v = 0; v < vectors; v++) {
        if (start === 'zero' && f.bias !== undefined) {
          w.get(f.bias).get(f.column).op(Op.i32Add).simdMemory(SimdOp.v128Load, 16 * v, 16);
        } else if (start === 'zero') {
          w.v128Zero();
        } else {
          outAddress(w, f, r);
          w.simdMemory(SimdOp.v128Load, 16 * v, 16);
        }
        w.set(at(r, v));
      }
    }
    kLoop(
      w,
      f,
      rows,
      4 * vectors,
      () => {
        for (let v = 0; v < vectors; v++) w.get(f.pb).simdMemory(SimdOp.v128Load, 16 * v, 16).set(bv[v]!);
      },
      (r) => {
        w.simdMemory(SimdOp.v128Load32Splat, aElement(w, f, r), 4).set(splat);
        for (let v = 0; v < vectors; v++) {
          if (f.fusedMultiplyAdd) w.get(splat).get(bv[v]!).get(at(r, v)).simd(f32x4RelaxedMadd).set(at(r, v));
          else w.get(at(r, v)).get(splat).get(bv[v]!).simd(SimdOp.f32x4Mul).simd(SimdOp.f32x4Add).set(at(r, v));
        }
      },
    );
    for (let r = 0; r < rows; r++) {
      for (let v = 0; v < vectors; v++) {
        outAddress(w, f, r);
        w.get(at(r, v)).simdMemory(SimdOp.v128Store, 16 * v, 16);
      }
    }
  });
}

/** A `rows` × 1 tile of scalar f32 accumulators (the last N mod 4 columns). */
function scalarTile(w: FunctionWriter, f: Frame, rows: number, acc: readonly number[], bs: number): void {
  startingFrom(w, f, (start) => {
    for (let r = 0; r < rows; r++) {
      if (start === 'zero' && f.bias !== undefined) {
        w.get(f.bias).get(f.column).op(Op.i32Add).memory(Op.f32Load, 0, 4);
      } else if (start === 'zero') {
        w.op(Extra.f32Const).code.push(0, 0, 0, 0);
      } else {
        outAddress(w, f, r);
        w.memory(Op.f32Load, 0, 4);
      }
      w.set(acc[r]!);
    }
    kLoop(
      w,
      f,
      rows,
      1,
      () => {
        w.get(f.pb).memory(Op.f32Load, 0, 4).set(bs);
      },
      (r) => {
        w.memory(Op.f32Load, aElement(w, f, r), 4).get(bs).op(Extra.f32Mul).get(acc[r]!).op(Extra.f32Add).set(acc[r]!);
      },
    );
    for (let r = 0; r < rows; r++) {
      outAddress(w, f, r);
      w.get(acc[r]!).memory(Op.f32Store, 0, 4);
    }
  });
}

/** `while (local + width <= limit) { body(); local += width; }`, unsigned. */
function whileFits(w: FunctionWriter, local: number, width: number, limit: number, body: () => void): void {
  w.begin(Op.block).begin(Op.loop);
  w.get(local).i32(width).op(Op.i32Add).get(limit).op(Extra.i32LeU).op(Op.i32Eqz).branch(Op.brIf, 1);
  body();
  w.get(local).i32(width).op(Op.i32Add).set(local);
  w.branch(Op.br, 0);
  w.op(Op.end).op(Op.end);
}

/**
 * Copy `count` floats per step from `src` (moving `srcStride` bytes a step) to `dst` (moving 4·count
 * bytes) until `dst` reaches `dstEnd`: v128 moves for whole vectors, then f32 ones.
 */
function copyLoop(w: FunctionWriter, src: number, srcStride: number, dst: number, dstEnd: number, count: number): void {
  w.begin(Op.block).begin(Op.loop);
  w.get(dst).get(dstEnd).op(Op.i32GeU).branch(Op.brIf, 1);
  let c = 0;
  for (; c + 4 <= count; c += 4) w.get(dst).get(src).simdMemory(SimdOp.v128Load, 4 * c, 16).simdMemory(SimdOp.v128Store, 4 * c, 16);
  for (; c < count; c++) w.get(dst).get(src).memory(Op.f32Load, 4 * c, 4).memory(Op.f32Store, 4 * c, 4);
  w.get(src).get(srcStride).op(Op.i32Add).set(src);
  w.get(dst).i32(4 * count).op(Op.i32Add).set(dst);
  w.branch(Op.br, 0);
  w.op(Op.end).op(Op.end);
}

/** Push min(x, y) of two i32 locals (unsigned). */
function pushMin(w: FunctionWriter, x: number, y: number): void {
  w.get(x).get(y).get(x).get(y).op(Op.i32LtU).op(Extra.select);
}

/** `if (value − 1 ≥ limit, unsigned) value = limit`: 0 and anything above `limit` become `limit`. */
function clampBlock(w: FunctionWriter, value: number, limit: number): void {
  w.get(value).i32(1).op(Extra.i32Sub).get(limit).op(Op.i32GeU).begin(Op.if);
  w.get(limit).set(value);
  w.op(Op.end);
}

/**
 * One exported function (see `GemmFunction`): a loop over batch entries; in it the K blocks, in
 * each the column blocks (B's block packed first), in each row blocks of `tile.rows` (then 4, then
 * 1) rows (A's strip packed first), in each the column tiles, in each the K loop over the block.
 */
function gemm(tile: GemmTile, fusedMultiplyAdd: boolean, layout: Layout, packed: boolean, start: Start, exportName: string): FunctionSpec {
  const withBias = start === 'bias';
  const w = new FunctionWriter(13);
  const [a, b, out, batch, aStep, bStep, m, n, k, kBlock, nBlock, scratch, bias] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
  const aKBytes = w.local(I32);
  const aRowStep = w.local(I32);
  const bRowBytes = w.local(I32);
  const outStep = w.local(I32);
  const entry = w.local(I32);
  const k0 = w.local(I32);
  const kLength = w.local(I32);
  const aK = w.local(I32);
  const bK = w.local(I32);
  const first = w.local(I32);
  const n0 = w.local(I32);
  const nEnd = w.local(I32);
  const nBlockBytes = w.local(I32);
  const row = w.local(I32);
  const aRow = w.local(I32);
  const outRow = w.local(I32);
  const column = w.local(I32);
  const pa = w.local(I32);
  const pb = w.local(I32);
  const aEnd = w.local(I32);
  const aPack = w.local(I32);
  const src = w.local(I32);
  const dst = w.local(I32);
  const dstEnd = w.local(I32);
  const aOffsets = [0];
  const outOffsets = [0];
  for (let r = 1; r < tile.rows; r++) {
    aOffsets.push(w.local(I32));
    outOffsets.push(w.local(I32));
  }
  const acc = Array.from({ length: tile.rows }, () => Array.from({ length: tile.vectors }, () => w.local(V128)));
  const bv = Array.from({ length: tile.vectors + 1 }, () => w.local(V128));
  const scalarAcc = Array.from({ length: tile.rows }, () => w.local(F32));
  const bs = w.local(F32);
  const f: Frame = { layout, fusedMultiplyAdd, packed, bias: withBias ? bias : undefined, aKBytes, bRowBytes, aRow, outRow, bK, kLength, first, n0, column, scratch, aPack, pa, pb, aEnd, aOffsets, outOffsets };

  // Strides: 'rows' A moves 4 bytes per k and 4·k per row; 'columns' A the other way round.
  if (layout === 'rows') {
    w.i32(4).set(aKBytes);
    w.get(k).i32(4).op(Op.i32Mul).set(aRowStep);
  } else {
    w.get(m).i32(4).op(Op.i32Mul).set(aKBytes);
    w.i32(4).set(aRowStep);
  }
  w.get(n).i32(4).op(Op.i32Mul).set(bRowBytes);
  w.get(m).get(bRowBytes).op(Op.i32Mul).set(outStep);
  for (let r = 1; r < tile.rows; r++) {
    if (layout === 'rows') w.get(aRowStep).i32(r).op(Op.i32Mul).set(aOffsets[r]!);
    w.get(bRowBytes).i32(r).op(Op.i32Mul).set(outOffsets[r]!);
  }
  clampBlock(w, kBlock, k);
  clampBlock(w, nBlock, n);
  w.get(nBlock).i32(4).op(Op.i32Mul).set(nBlockBytes);
  // The A strip follows the B panels in the scratch buffer (see `scratchBytes`).
  w.get(scratch);
  if (packed) w.get(kBlock).get(nBlockBytes).op(Op.i32Mul).op(Op.i32Add);
  w.set(aPack);

  const widths = [...new Set([4 * tile.vectors, 4, 1])];
  /** Copy B[K block, column block] into panels: the tile at column c reads kLength × width floats at (c − n0)·kLength. */
  const packB = (): void => {
    w.get(n0).set(column);
    for (const width of widths) {
      whileFits(w, column, 4 * width, nEnd, () => {
        w.get(bK).get(column).op(Op.i32Add).set(src);
        w.get(column).get(n0).op(Extra.i32Sub).get(kLength).op(Op.i32Mul).get(scratch).op(Op.i32Add).tee(dst);
        w.get(kLength).i32(4 * width).op(Op.i32Mul).op(Op.i32Add).set(dstEnd);
        copyLoop(w, src, bRowBytes, dst, dstEnd, width);
      });
    }
  };
  /** Copy A's strip of the current row block ([kLength][rows]) to aPack. */
  const packA = (rows: number): void => {
    w.get(aRow).set(src);
    w.get(aPack).tee(dst).get(kLength).i32(4 * rows).op(Op.i32Mul).op(Op.i32Add).set(dstEnd);
    copyLoop(w, src, aKBytes, dst, dstEnd, rows);
  };
  /** Every column tile of the current row block within the column block, with tiles `rows` high. */
  const columns = (rows: number): void => {
    w.get(n0).set(column);
    whileFits(w, column, 16 * tile.vectors, nEnd, () => vectorTile(w, f, rows, tile.vectors, acc, bv));
    if (tile.vectors > 1) whileFits(w, column, 16, nEnd, () => vectorTile(w, f, rows, 1, acc, bv));
    whileFits(w, column, 4, nEnd, () => scalarTile(w, f, rows, scalarAcc, bs));
  };
  /** Row blocks of `rows` rows while they fit; `row` counts rows done. */
  const rowBlocks = (rows: number): void => {
    whileFits(w, row, rows, m, () => {
      w.get(row).get(aRowStep).op(Op.i32Mul).get(aK).op(Op.i32Add).set(aRow);
      w.get(row).get(bRowBytes).op(Op.i32Mul).get(out).op(Op.i32Add).set(outRow);
      if (readsPackedA(f)) packA(rows);
      columns(rows);
    });
  };

  w.i32(0).set(entry);
  w.begin(Op.block).begin(Op.loop);
  w.get(entry).get(batch).op(Op.i32GeU).branch(Op.brIf, 1);
  // K blocks, at least one (so k = 0 still writes zeros).
  w.i32(0).set(k0);
  w.begin(Op.loop);
  w.get(k).get(k0).op(Extra.i32Sub).set(kLength);
  pushMin(w, kBlock, kLength);
  w.set(kLength);
  w.get(k0).get(aKBytes).op(Op.i32Mul).get(a).op(Op.i32Add).set(aK);
  w.get(k0).get(bRowBytes).op(Op.i32Mul).get(b).op(Op.i32Add).set(bK);
  if (start === 'out') w.i32(0).set(first);
  else w.get(k0).op(Op.i32Eqz).set(first);
  // Column blocks.
  w.i32(0).set(n0);
  w.begin(Op.block).begin(Op.loop);
  w.get(n0).get(bRowBytes).op(Op.i32GeU).branch(Op.brIf, 1);
  w.get(n0).get(nBlockBytes).op(Op.i32Add).set(nEnd);
  pushMin(w, nEnd, bRowBytes);
  w.set(nEnd);
  if (packed) packB();
  w.i32(0).set(row);
  for (const rows of new Set([tile.rows, Math.min(tile.rows, 4), 1])) rowBlocks(rows);
  w.get(nEnd).set(n0);
  w.branch(Op.br, 0);
  w.op(Op.end).op(Op.end);
  w.get(k0).get(kLength).op(Op.i32Add).tee(k0).get(k).op(Op.i32LtU).branch(Op.brIf, 0);
  w.op(Op.end);
  w.get(a).get(aStep).op(Op.i32Add).set(a);
  w.get(b).get(bStep).op(Op.i32Add).set(b);
  w.get(out).get(outStep).op(Op.i32Add).set(out);
  w.get(entry).i32(1).op(Op.i32Add).set(entry);
  w.branch(Op.br, 0);
  w.op(Op.end).op(Op.end);
  return { params: Array(13).fill(I32), body: w, exportName };
}

/** The module with the twelve functions of `BatchedGemmSimd`. */
function gemmModule(tile: GemmTile, fusedMultiplyAdd: boolean): WebAssembly.Module {
  const suffixes: Record<Start, string> = { zero: '', bias: 'Bias', out: 'Accumulate' };
  const functions = (['zero', 'bias', 'out'] as const).flatMap((start) => {
    const suffix = suffixes[start];
    return [
      gemm(tile, fusedMultiplyAdd, 'rows', false, start, `gemm${suffix}`),
      gemm(tile, fusedMultiplyAdd, 'rows', true, start, `gemmPacked${suffix}`),
      gemm(tile, fusedMultiplyAdd, 'columns', false, start, `gemmTransposedA${suffix}`),
      gemm(tile, fusedMultiplyAdd, 'columns', true, start, `gemmTransposedAPacked${suffix}`),
    ];
  });
  return new WebAssembly.Module(encodeModule(functions, 1));
}

/** Options of `compileBatchedGemm`. */
export interface CompileGemmOptions {
  readonly tile?: GemmTile;
  /** Multiply–add with f32x4.relaxed_madd (default false; throws where the engine lacks relaxed SIMD). */
  readonly fusedMultiplyAdd?: boolean;
}

/** Compile and link the GEMMs with a given tile to `memory` (throws where the engine cannot). */
export function compileBatchedGemm(memory: WebAssembly.Memory, options: CompileGemmOptions = {}): BatchedGemmSimd {
  const module = gemmModule(options.tile ?? defaultTile, options.fusedMultiplyAdd ?? false);
  return new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as BatchedGemmSimd;
}

/**
 * How the engine's products multiply and add (`registerTrainingKernels` sets it):
 * `fusedMultiplyAdd` asks for f32x4.relaxed_madd, used where the engine validates relaxed SIMD.
 */
export const gemmArithmetic = { fusedMultiplyAdd: true };

/** Whether the products `batchedGemmFor` hands out now multiply–add fused. */
export function gemmFusesMultiplyAdd(): boolean {
  return gemmArithmetic.fusedMultiplyAdd && relaxedSimdAvailable();
}

/** The compiled module per arithmetic; `null` once compiling failed (no SIMD support), so it is tried once. */
const compiled = new Map<boolean, WebAssembly.Module | null>();
/** One instance per backend memory and arithmetic; `null` where instantiating failed (e.g. a shared memory). */
const instances = new WeakMap<WebAssembly.Memory, Map<boolean, BatchedGemmSimd | null>>();

/**
 * The GEMM bound to `memory` (the wasm backend's heap), one instance per memory, with the
 * arithmetic `gemmFusesMultiplyAdd` gives; `undefined` when this engine cannot compile the SIMD
 * module or link it to that memory, so callers fall back.
 */
export function batchedGemmFor(memory: WebAssembly.Memory): BatchedGemmSimd | undefined {
  const fused = gemmFusesMultiplyAdd();
  let byArithmetic = instances.get(memory);
  if (byArithmetic === undefined) {
    byArithmetic = new Map();
    instances.set(memory, byArithmetic);
  }
  let instance = byArithmetic.get(fused);
  if (instance === undefined) {
    let module = compiled.get(fused);
    if (module === undefined) {
      try {
        module = gemmModule(defaultTile, fused);
      } catch {
        module = null;
      }
      compiled.set(fused, module);
    }
    instance = null;
    if (module !== null) {
      try {
        instance = new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as BatchedGemmSimd;
      } catch {
        instance = null;
      }
    }
    byArithmetic.set(fused, instance);
  }
  return instance ?? undefined;
}

export { backendMemory } from './wasm-ops.js';
