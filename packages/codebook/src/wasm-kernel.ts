import { encodeModule, F32, FunctionWriter, I32, Op, SimdOp, V128 } from './wasm-emitter.js';

/**
 * The float32 WebAssembly SIMD scoring kernel behind `gqSearchCpu`.
 *
 * Register blocking: QUERIES queries × (VECTORS·4) codewords are scored together. For each feature
 * k, VECTORS f32x4 loads bring in φ_k of a panel of 4·VECTORS codewords (Φ is stored panel-major,
 * [K/panel][width][panel], so 4 codewords share one f32x4 lane group), and each query's weight a_k
 * is broadcast once (v128.load32_splat) and multiplied into VECTORS accumulators. With 4 × 2 the
 * hot loop holds 8 accumulators + 2 feature vectors + 1 weight (+ 1 product temporary): 12 of the
 * 15 SIMD registers V8 allocates on x86-64 (xmm15 is its scratch; ARM64 has 32), so the register
 * allocator need not spill inside the loop. Keeping 4 threshold vectors live as well made the
 * same search vary up to 2× between processes on x86-64.
 *
 * The kernel never materialises scores. Each query keeps a running float32 maximum `best` and a
 * threshold `thr = best − tol` in a 16-byte state record; after each panel one f32x4.ge per
 * accumulator and v128.any_true test whether any lane reached `thr`. Only then (O(log K) times per
 * query for continuous inputs) does the scalar `hit` function append the codeword indices that
 * reached the threshold to the query's candidate list and raise `best`. `tol` bounds twice the
 * float32 rounding error of a score (set by the caller), so the float64 winner is always a
 * candidate; the caller re-scores candidates in float64.
 */

export const QUERIES = 4;
export const VECTORS = 2;
/** Codewords per panel (lanes across the VECTORS accumulators of one query). */
export const PANEL = 4 * VECTORS;
/** Bytes per query state record: best f32 @0, thr f32 @4, tol f32 @8, candidate count i32 @12. */
export const STATE_BYTES = 16;
/** Features per unrolled step when the feature loop is not fully unrolled. */
const FEATURE_UNROLL = 8;
/** Widths up to this are fully unrolled with constant memory offsets. */
const FULL_UNROLL_MAX = 16;

/** Padded feature count of a kernel for codeword dimension m (2m features, rounded for unrolling). */
export function paddedWidth(dim: number): number {
  const width = 2 * dim;
  return width <= FULL_UNROLL_MAX ? Math.ceil(width / 4) * 4 : Math.ceil(width / FEATURE_UNROLL) * FEATURE_UNROLL;
}

/** Exported scan signature: (weights, state, candidates, blocks, panelStart, panelEnd, size, cap, scratch, phi). */
export type ScanFunction = (
  weights: number,
  state: number,
  candidates: number,
  blocks: number,
  panelStart: number,
  panelEnd: number,
  size: number,
  capacity: number,
  scratch: number,
  phi: number,
) => void;

/**
 * hit(state, candidates, firstIndex, size, capacity, scratch): scalar slow path for one query and
 * one panel whose PANEL float32 scores were stored at `scratch`. Lanes at or past `size` are
 * padding and skipped. Indices are appended in ascending order while the count stays below
 * `capacity`; the count keeps growing past it so the caller can detect the overflow.
 */
function emitHit(): FunctionWriter {
  const [state, candidates, firstIndex, size, capacity, scratch] = [0, 1, 2, 3, 4, 5];
  const f = new FunctionWriter(6);
  const lane = f.local(I32);
  const index = f.local(I32);
  const count = f.local(I32);
  const score = f.local(F32);
  const best = f.local(F32);
  const threshold = f.local(F32);
  f.get(state).memory(Op.f32Load, 0, 4).set(best);
  f.get(state).memory(Op.f32Load, 4, 4).set(threshold);
  f.get(state).memory(Op.i32Load, 12, 4).set(count);
  f.i32(0).set(lane);
  f.begin(Op.loop);
  {
    f.get(firstIndex).get(lane).op(Op.i32Add).tee(index).get(size).op(Op.i32LtU);
    f.begin(Op.if);
    {
      f.get(scratch).get(lane).i32(4).op(Op.i32Mul).op(Op.i32Add).memory(Op.f32Load, 0, 4).tee(score);
      f.get(threshold).op(Op.f32Ge);
      f.begin(Op.if);
      {
        f.get(count).get(capacity).op(Op.i32LtU);
        f.begin(Op.if);
        f.get(candidates).get(count).i32(4).op(Op.i32Mul).op(Op.i32Add).get(index).memory(Op.i32Store, 0, 4);
        f.op(Op.end);
        f.get(count).i32(1).op(Op.i32Add).set(count);
        f.get(score).get(best).op(Op.f32Gt);
        f.begin(Op.if);
        f.get(score).set(best);
        f.get(score).get(state).memory(Op.f32Load, 8, 4).op(Op.f32Sub).set(threshold);
        f.op(Op.end);
      }
      f.op(Op.end);
    }
    f.op(Op.end);
    f.get(lane).i32(1).op(Op.i32Add).tee(lane).i32(PANEL).op(Op.i32LtU).branch(Op.brIf, 0);
  }
  f.op(Op.end);
  f.get(state).get(best).memory(Op.f32Store, 0, 4);
  f.get(state).get(threshold).memory(Op.f32Store, 4, 4);
  f.get(state).get(count).memory(Op.i32Store, 12, 4);
  return f;
}

/**
 * scan(...): for `blocks` consecutive blocks of QUERIES queries and panels [panelStart, panelEnd),
 * scores every codeword and updates each query's state and candidates. Layouts (byte addresses):
 * weights [blocks][width][QUERIES] f32, state [blocks·QUERIES] records, candidates
 * [blocks·QUERIES][capacity] i32, Φ at `phi` as [panels][width][PANEL] f32.
 */
function emitScan(width: number): FunctionWriter {
  const [weights, state, candidates, blocks, panelStart, panelEnd, size, capacity, scratch, phiBase] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  const f = new FunctionWriter(10);
  const panel = f.local(I32);
  const phi = f.local(I32);
  const capacityBytes = f.local(I32);
  const phiK = f.local(I32);
  const weightK = f.local(I32);
  const weightEnd = f.local(I32);
  const acc = Array.from({ length: QUERIES * VECTORS }, () => f.local(V128));
  const feature = Array.from({ length: VECTORS }, () => f.local(V128));
  const weight = f.local(V128);
  const panelBytes = width * PANEL * 4;
  const blockWeightBytes = width * QUERIES * 4;
  const unrolled = width <= FULL_UNROLL_MAX;

  /** acc += w·φ for features [0, count) at constant offsets from (phiPointer, weightPointer). */
  const features = (count: number, phiPointer: number, weightPointer: number, first: boolean): void => {
    for (let k = 0; k < count; k++) {
      for (let v = 0; v < VECTORS; v++) f.get(phiPointer).simdMemory(SimdOp.v128Load, (k * PANEL + 4 * v) * 4, 16).set(feature[v]!);
      for (let r = 0; r < QUERIES; r++) {
        for (let v = 0; v < VECTORS; v++) {
          const target = acc[r * VECTORS + v]!;
          if (!(first && k === 0)) f.get(target);
          f.get(feature[v]!);
          if (v === 0) f.get(weightPointer).simdMemory(SimdOp.v128Load32Splat, (k * QUERIES + r) * 4, 4).tee(weight);
          else f.get(weight);
          f.simd(SimdOp.f32x4Mul);
          if (!(first && k === 0)) f.simd(SimdOp.f32x4Add);
          f.set(target);
        }
      }
    }
  };

  f.get(capacity).i32(4).op(Op.i32Mul).set(capacityBytes);
  f.begin(Op.block);
  f.begin(Op.loop);
  {
    f.get(blocks).op(Op.i32Eqz).branch(Op.brIf, 1);
    f.get(weights).i32(blockWeightBytes).op(Op.i32Add).set(weightEnd);
    f.get(panelStart).set(panel);
    f.get(phiBase).get(panelStart).i32(panelBytes).op(Op.i32Mul).op(Op.i32Add).set(phi);
    f.begin(Op.block);
    f.begin(Op.loop);
    {
      f.get(panel).get(panelEnd).op(Op.i32GeU).branch(Op.brIf, 1);
      if (unrolled) {
        features(width, phi, weights, true);
      } else {
        for (const target of acc) f.v128Zero().set(target);
        f.get(phi).set(phiK);
        f.get(weights).set(weightK);
        f.begin(Op.loop);
        features(FEATURE_UNROLL, phiK, weightK, false);
        f.get(phiK).i32(FEATURE_UNROLL * PANEL * 4).op(Op.i32Add).set(phiK);
        f.get(weightK).i32(FEATURE_UNROLL * QUERIES * 4).op(Op.i32Add).tee(weightK);
        f.get(weightEnd).op(Op.i32LtU).branch(Op.brIf, 0);
        f.op(Op.end);
      }
      for (let r = 0; r < QUERIES; r++) {
        // The threshold is re-read from the state record (an L1 hit) rather than kept in a v128
        // local: 8 accumulators + 2 features + 1 weight + a temporary already use 12 of the 15 SIMD
        // registers V8 allocates on x64, and 4 more live values would spill inside the hot loop.
        f.get(state).simdMemory(SimdOp.v128Load32Splat, r * STATE_BYTES + 4, 4).set(weight);
        for (let v = 0; v < VECTORS; v++) {
          f.get(acc[r * VECTORS + v]!).get(weight).simd(SimdOp.f32x4Ge);
          if (v > 0) f.simd(SimdOp.v128Or);
        }
        f.simd(SimdOp.v128AnyTrue);
        f.begin(Op.if);
        for (let v = 0; v < VECTORS; v++) f.get(scratch).get(acc[r * VECTORS + v]!).simdMemory(SimdOp.v128Store, 16 * v, 16);
        f.get(state).i32(r * STATE_BYTES).op(Op.i32Add);
        f.get(candidates).get(capacityBytes).i32(r).op(Op.i32Mul).op(Op.i32Add);
        f.get(panel).i32(PANEL).op(Op.i32Mul);
        f.get(size).get(capacity).get(scratch).call(0);
        f.op(Op.end);
      }
      f.get(panel).i32(1).op(Op.i32Add).set(panel);
      f.get(phi).i32(panelBytes).op(Op.i32Add).set(phi);
      f.branch(Op.br, 0);
    }
    f.op(Op.end);
    f.op(Op.end);
    f.get(weightEnd).set(weights);
    f.get(state).i32(QUERIES * STATE_BYTES).op(Op.i32Add).set(state);
    f.get(candidates).get(capacityBytes).i32(QUERIES).op(Op.i32Mul).op(Op.i32Add).set(candidates);
    f.get(blocks).i32(-1).op(Op.i32Add).set(blocks);
    f.branch(Op.br, 0);
  }
  f.op(Op.end);
  f.op(Op.end);
  return f;
}

/** The kernel module's bytes for padded width `width` (a multiple of 4; of 8 when above 16). */
export function kernelModuleBytes(width: number): Uint8Array<ArrayBuffer> {
  const i32 = I32;
  return encodeModule(
    [
      { params: [i32, i32, i32, i32, i32, i32], body: emitHit() },
      { params: [i32, i32, i32, i32, i32, i32, i32, i32, i32, i32], body: emitScan(width), exportName: 'scan' },
    ],
    1,
  );
}

let probe: Uint8Array<ArrayBuffer> | undefined;

/**
 * True when this engine validates WebAssembly fixed-width SIMD, probed with the smallest kernel
 * module itself (so every opcode it uses is checked). Evaluated on every call (a validate of ~1 KiB
 * costs microseconds), so a host that disables wasm later is still honoured.
 */
export function wasmSimdSupported(): boolean {
  const wasm = (globalThis as { WebAssembly?: typeof WebAssembly }).WebAssembly;
  if (wasm === undefined || typeof wasm.validate !== 'function') return false;
  try {
    probe ??= kernelModuleBytes(4);
    return wasm.validate(probe);
  } catch {
    return false;
  }
}
