import { F32, FunctionWriter, I32, Op, SimdOp, V128, encodeModule, type FunctionSpec, type ValueType } from '@gq/codebook/internal';

/*
 * 128-bit SIMD loops for the fused normalisation kernels, emitted as WebAssembly that imports the
 * wasm backend's own memory, so they read and write tensors where they lie. Each function walks
 * `rows` rows of a [rows, C] slice (C a multiple of 4, a row `rowBytes` = 4·C bytes long) with
 * per-channel vectors of C floats (coefficients, accumulators); all addresses are byte offsets
 * into the backend's heap. The accumulating functions add into float32 vectors that the caller
 * zeroes and drains into float64 every block of rows, which bounds float32 rounding.
 *
 * The `layerNormRows*` functions serve the other shape: many one-row slices (LayerNorm, [N, 1, C]
 * with one group), where per-slice calls from JS would cost more than the arithmetic. They walk
 * all N rows in one call, keep the row statistics (sums over C) in float64x2 lanes, and drain the
 * float32 parameter-gradient blocks into float64 themselves.
 */

/** SIMD opcodes beyond the emitter's set (WebAssembly 2.0, after the 0xFD prefix). */
const Simd = {
  i8x16Shuffle: 0x0d,
  f32x4Splat: 0x13,
  f64x2Splat: 0x14,
  f64x2ExtractLane: 0x21,
  f64x2PromoteLowF32x4: 0x5f,
  f32x4Nearest: 0x6a,
  i32x4Shl: 0xab,
  i32x4Add: 0xae,
  f32x4Sub: 0xe5,
  f32x4Div: 0xe7,
  f32x4Min: 0xe8,
  f32x4Max: 0xe9,
  i32x4TruncSatF32x4S: 0xf8,
  f64x2Add: 0xf0,
  f64x2Sub: 0xf1,
  f64x2Mul: 0xf2,
} as const;

/** Scalar opcodes beyond the emitter's set (float64 arithmetic and conversions). */
const Scalar = {
  f64Const: 0x44,
  i32Sub: 0x6b,
  i32Shl: 0x74,
  i32ShrU: 0x76,
  f64Sqrt: 0x9f,
  f64Add: 0xa0,
  f64Div: 0xa3,
  f32DemoteF64: 0xb6,
  f64ConvertI32U: 0xb8,
  f64PromoteF32: 0xbb,
} as const;

/** WebAssembly's f64 value type (the emitter names only i32, f32 and v128). */
const F64 = 0x7c as unknown as ValueType;

/** The emitted functions, callable with byte offsets into the backend heap. */
export interface NormSimd {
  /** sums[c] += Σ_r x[r, c]. */
  columnSums(x: number, rows: number, rowBytes: number, sums: number): void;
  /** sums[c] += Σ_r (x[r, c] − mean[c])². */
  columnSquares(x: number, rows: number, rowBytes: number, mean: number, sums: number): void;
  /** y[r, c] = x[r, c]·a[c] + b[c]. */
  affine(x: number, y: number, rows: number, rowBytes: number, a: number, b: number): void;
  /** y[r, c] = silu(x[r, c]·a[c] + b[c]). */
  affineSilu(x: number, y: number, rows: number, rowBytes: number, a: number, b: number): void;
  /**
   * With x̂ = x·xScale[c] + xShift[c]: dn = dy (or dy·silu′(x̂·γ[c] + β[c])) stored to `dn`,
   * sumDn[c] += dn, sumDnXHat[c] += dn·x̂. `dn` may alias `dy`.
   */
  gradGather(dy: number, x: number, dn: number, rows: number, rowBytes: number, xScale: number, xShift: number, gamma: number, beta: number, sumDn: number, sumDnXHat: number): void;
  /** As `gradGather` with SiLU. */
  gradGatherSilu(dy: number, x: number, dn: number, rows: number, rowBytes: number, xScale: number, xShift: number, gamma: number, beta: number, sumDn: number, sumDnXHat: number): void;
  /** dx[r, c] = dn[r, c]·p[c] + x[r, c]·q[c] + t[c] (`dx` may alias `dn`). */
  gradApply(dn: number, x: number, dx: number, rows: number, rowBytes: number, p: number, q: number, t: number): void;
  /**
   * LayerNorm forward over `rows` rows of C = rowBytes/4 values: per row, μ = fround(Σx/C) and
   * r = fround(1/√(Σ(x − μ)²/C + eps)) (sums in float64), stored as float32 at mean[row] and
   * rstd[row]; then y = x̂·γ[c] + β[c] with x̂ = (x − μ)·r in float32.
   */
  layerNormRows(x: number, y: number, rows: number, rowBytes: number, gamma: number, beta: number, mean: number, rstd: number, eps: number): void;
  /** As `layerNormRows`, then y = silu(y). */
  layerNormRowsSilu(x: number, y: number, rows: number, rowBytes: number, gamma: number, beta: number, mean: number, rstd: number, eps: number): void;
  /**
   * LayerNorm backward over `rows` rows: with x̂ = (x − mean[row])·rstd[row] as in the forward,
   * dn = dy and u = dn·γ[c], dx = r·(u − mean(u) − x̂·mean(u·x̂)) (row means in float64).
   * blockDn[c] += dn and blockDnXHat[c] += dn·x̂ in float32 (the caller zeroes them), added into
   * the float64 sumDn[c], sumDnXHat[c] and re-zeroed every `blockRows` rows and at the end.
   */
  layerNormRowsGrad(
    dy: number, x: number, dx: number, rows: number, rowBytes: number, gamma: number, beta: number, mean: number, rstd: number,
    blockRows: number, blockDn: number, blockDnXHat: number, sumDn: number, sumDnXHat: number,
  ): void;
  /** As `layerNormRowsGrad` with dn = dy·silu′(x̂·γ + β) (kept in dx between the two passes over a row). */
  layerNormRowsGradSilu(
    dy: number, x: number, dx: number, rows: number, rowBytes: number, gamma: number, beta: number, mean: number, rstd: number,
    blockRows: number, blockDn: number, blockDnXHat: number, sumDn: number, sumDnXHat: number,
  ): void;
  /**
   * Column sums of a [rows, ·] slice whose rows are `rowBytes` apart, over its first `widthBytes`
   * bytes (a multiple of 16; the columns past it are the caller's): block[c] += x[r, c] in float32
   * (the caller zeroes `block`), added into the float64 sums[c] (8 bytes a column) and re-zeroed
   * every `blockRows` rows and at the end. One call for the whole slice (the Sum kernel's path).
   */
  columnSumsBlocked(x: number, rows: number, rowBytes: number, widthBytes: number, blockRows: number, block: number, sums: number): void;
}

function splat(w: FunctionWriter, value: number): FunctionWriter {
  w.simd(SimdOp.v128Const);
  const bytes = new Uint8Array(Float32Array.of(value, value, value, value).buffer);
  for (const b of bytes) w.code.push(b);
  return w;
}

/**
 * Emits e^v for the f32x4 on the stack, leaving e^v: v clamped to [−80, 80], v·log2(e) = k + f
 * with k = nearest integer, 2^k built in the exponent bits, e^{f·ln 2} (|f·ln 2| ≤ 0.35) from its
 * degree-6 Taylor polynomial (relative error ≤ 2e-7, about float32's rounding).
 */
function emitExp(w: FunctionWriter, t: number, k: number, f: number): void {
  splat(w, -80).simd(Simd.f32x4Max);
  splat(w, 80).simd(Simd.f32x4Min);
  splat(w, Math.LOG2E).simd(SimdOp.f32x4Mul).set(t);
  w.get(t).simd(Simd.f32x4Nearest).set(k);
  w.get(t).get(k).simd(Simd.f32x4Sub);
  splat(w, Math.LN2).simd(SimdOp.f32x4Mul).set(f);
  // Horner: 1 + f(1 + f(1/2 + f(1/6 + f(1/24 + f(1/120 + f/720)))))
  const coefficients = [1 / 720, 1 / 120, 1 / 24, 1 / 6, 1 / 2, 1, 1];
  splat(w, coefficients[0]!);
  for (const c of coefficients.slice(1)) {
    w.get(f).simd(SimdOp.f32x4Mul);
    splat(w, c).simd(SimdOp.f32x4Add);
  }
  // 2^k: (k + 127) << 23 reinterpreted as float32; k ∈ [−116, 116] keeps it a normal number.
  w.get(k).simd(Simd.i32x4TruncSatF32x4S);
  w.simd(SimdOp.v128Const);
  for (const b of new Uint8Array(Int32Array.of(127, 127, 127, 127).buffer)) w.code.push(b);
  w.simd(Simd.i32x4Add).i32(23).simd(Simd.i32x4Shl);
  w.simd(SimdOp.f32x4Mul);
}

/** The v128 locals `emitSigmoid` works in; `n` keeps its argument. */
interface SigmoidLocals {
  readonly n: number;
  readonly t: number;
  readonly k: number;
  readonly f: number;
}

function sigmoidLocals(w: FunctionWriter): SigmoidLocals {
  return { n: w.local(V128), t: w.local(V128), k: w.local(V128), f: w.local(V128) };
}

/** σ(n) = 1/(1 + e^{−n}) of the f32x4 on the stack (n is left in `locals.n`). */
function emitSigmoid(w: FunctionWriter, { n, t, k, f }: SigmoidLocals): void {
  w.set(n);
  splat(w, 1);
  splat(w, 1);
  w.v128Zero().get(n).simd(Simd.f32x4Sub);
  emitExp(w, t, k, f);
  w.simd(SimdOp.f32x4Add).simd(Simd.f32x4Div);
}

/**
 * Multiply the f32x4 on the stack (dy) by silu′(n) at n = x̂·γ[q] + β[q]:
 * silu′(n) = σ(n)·(1 + n·(1 − σ(n))). `s` is scratch for σ(n).
 */
function multiplySiluDerivative(
  w: FunctionWriter,
  at: { readonly xHat: number; readonly gamma: number; readonly beta: number; readonly q: number; readonly s: number; readonly sigmoid: SigmoidLocals },
): void {
  w.get(at.xHat);
  load(w, at.gamma, at.q).simd(SimdOp.f32x4Mul);
  load(w, at.beta, at.q).simd(SimdOp.f32x4Add);
  emitSigmoid(w, at.sigmoid);
  w.tee(at.s);
  splat(w, 1);
  w.get(at.sigmoid.n);
  splat(w, 1).get(at.s).simd(Simd.f32x4Sub);
  w.simd(SimdOp.f32x4Mul).simd(SimdOp.f32x4Add).simd(SimdOp.f32x4Mul);
  w.simd(SimdOp.f32x4Mul);
}

/**
 * The row × channel loop every function shares: `body(i, q)` is emitted with local `i` = byte
 * offset of the element from the start of the slice and `q` = byte offset of its channel.
 */
function rowLoop(w: FunctionWriter, rows: number, rowBytes: number, body: (i: number, q: number) => void): void {
  const end = w.local(I32);
  const row = w.local(I32);
  const q = w.local(I32);
  const i = w.local(I32);
  w.get(rows).get(rowBytes).op(Op.i32Mul).set(end);
  w.i32(0).set(row);
  w.begin(Op.block).begin(Op.loop);
  w.get(row).get(end).op(Op.i32GeU).branch(Op.brIf, 1);
  w.i32(0).set(q);
  w.begin(Op.block).begin(Op.loop);
  w.get(q).get(rowBytes).op(Op.i32GeU).branch(Op.brIf, 1);
  w.get(row).get(q).op(Op.i32Add).set(i);
  body(i, q);
  w.get(q).i32(16).op(Op.i32Add).set(q);
  w.branch(Op.br, 0);
  w.op(Op.end).op(Op.end);
  w.get(row).get(rowBytes).op(Op.i32Add).set(row);
  w.branch(Op.br, 0);
  w.op(Op.end).op(Op.end);
}

function load(w: FunctionWriter, base: number, offset: number): FunctionWriter {
  return w.get(base).get(offset).op(Op.i32Add).simdMemory(SimdOp.v128Load, 0, 16);
}

/** Push the address base + offset (for a store whose value follows). */
function address(w: FunctionWriter, base: number, offset: number): FunctionWriter {
  return w.get(base).get(offset).op(Op.i32Add);
}

function store(w: FunctionWriter): FunctionWriter {
  return w.simdMemory(SimdOp.v128Store, 0, 16);
}

/** acc[q] += value, with the value's code emitted by `value`. */
function accumulate(w: FunctionWriter, acc: number, q: number, value: () => void): void {
  address(w, acc, q);
  load(w, acc, q);
  value();
  w.simd(SimdOp.f32x4Add);
  store(w);
}

function columnSums(): FunctionSpec {
  const w = new FunctionWriter(4);
  const [x, rows, rowBytes, sums] = [0, 1, 2, 3];
  rowLoop(w, rows, rowBytes, (i, q) => accumulate(w, sums, q, () => load(w, x, i)));
  return { params: Array(4).fill(I32), body: w, exportName: 'columnSums' };
}

function columnSquares(): FunctionSpec {
  const w = new FunctionWriter(5);
  const [x, rows, rowBytes, mean, sums] = [0, 1, 2, 3, 4];
  const d = w.local(V128);
  rowLoop(w, rows, rowBytes, (i, q) =>
    accumulate(w, sums, q, () => {
      load(w, x, i);
      load(w, mean, q).simd(Simd.f32x4Sub).tee(d).get(d).simd(SimdOp.f32x4Mul);
    }),
  );
  return { params: Array(5).fill(I32), body: w, exportName: 'columnSquares' };
}

function affine(withSilu: boolean): FunctionSpec {
  const w = new FunctionWriter(6);
  const [x, y, rows, rowBytes, a, b] = [0, 1, 2, 3, 4, 5];
  const sigmoid = sigmoidLocals(w);
  rowLoop(w, rows, rowBytes, (i, q) => {
    address(w, y, i);
    load(w, x, i);
    load(w, a, q).simd(SimdOp.f32x4Mul);
    load(w, b, q).simd(SimdOp.f32x4Add);
    if (withSilu) {
      emitSigmoid(w, sigmoid);
      w.get(sigmoid.n).simd(SimdOp.f32x4Mul);
    }
    store(w);
  });
  return { params: Array(6).fill(I32), body: w, exportName: withSilu ? 'affineSilu' : 'affine' };
}

function gradGather(withSilu: boolean): FunctionSpec {
  const w = new FunctionWriter(11);
  const [dy, x, dn, rows, rowBytes, xScale, xShift, gamma, beta, sumDn, sumDnXHat] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  const xHat = w.local(V128);
  const d = w.local(V128);
  const s = w.local(V128);
  const sigmoid = sigmoidLocals(w);
  rowLoop(w, rows, rowBytes, (i, q) => {
    load(w, x, i);
    load(w, xScale, q).simd(SimdOp.f32x4Mul);
    load(w, xShift, q).simd(SimdOp.f32x4Add).set(xHat);
    load(w, dy, i);
    if (withSilu) {
      multiplySiluDerivative(w, { xHat, gamma, beta, q, s, sigmoid });
    }
    w.set(d);
    address(w, dn, i).get(d);
    store(w);
    accumulate(w, sumDn, q, () => w.get(d));
    accumulate(w, sumDnXHat, q, () => w.get(d).get(xHat).simd(SimdOp.f32x4Mul));
  });
  return { params: Array(11).fill(I32), body: w, exportName: withSilu ? 'gradGatherSilu' : 'gradGather' };
}

function gradApply(): FunctionSpec {
  const w = new FunctionWriter(8);
  const [dn, x, dx, rows, rowBytes, p, q, t] = [0, 1, 2, 3, 4, 5, 6, 7];
  rowLoop(w, rows, rowBytes, (i, c) => {
    address(w, dx, i);
    load(w, dn, i);
    load(w, p, c).simd(SimdOp.f32x4Mul);
    load(w, x, i);
    load(w, q, c).simd(SimdOp.f32x4Mul).simd(SimdOp.f32x4Add);
    load(w, t, c).simd(SimdOp.f32x4Add);
    store(w);
  });
  return { params: Array(8).fill(I32), body: w, exportName: 'gradApply' };
}

/*
 * The LayerNorm row functions. Rows are walked by advancing the row pointers (parameters are
 * locals) and counting `rows` down; channels by a byte offset q that steps 16 bytes (4 floats).
 */

function f64Const(w: FunctionWriter, value: number): FunctionWriter {
  w.op(Scalar.f64Const);
  for (const b of new Uint8Array(Float64Array.of(value).buffer)) w.code.push(b);
  return w;
}

/** `body()` once per row while `rows` (a local, counted down to 0) is positive. */
function eachRow(w: FunctionWriter, rows: number, body: () => void): void {
  w.begin(Op.block).begin(Op.loop);
  w.get(rows).op(Op.i32Eqz).branch(Op.brIf, 1);
  body();
  w.get(rows).i32(1).op(Scalar.i32Sub).set(rows);
  w.branch(Op.br, 0);
  w.op(Op.end).op(Op.end);
}

/** `body(q)` for q = 0, 16, …, rowBytes − 16: the byte offset of four channels within a row. */
function eachQuad(w: FunctionWriter, rowBytes: number, body: (q: number) => void): void {
  const q = w.local(I32);
  w.i32(0).set(q);
  w.begin(Op.block).begin(Op.loop);
  w.get(q).get(rowBytes).op(Op.i32GeU).branch(Op.brIf, 1);
  body(q);
  w.get(q).i32(16).op(Op.i32Add).set(q);
  w.branch(Op.br, 0);
  w.op(Op.end).op(Op.end);
}

/** pointer += step, where `step` is an i32 local (a row's bytes) or `{ constant }` (4 for the per-row statistics). */
function advance(w: FunctionWriter, pointer: number, step: number | { readonly constant: number }): void {
  w.get(pointer);
  if (typeof step === 'number') w.get(step);
  else w.i32(step.constant);
  w.op(Op.i32Add).set(pointer);
}

/**
 * A float64x2 pair of accumulators for the four float32 lanes of a v128: `lo` takes lanes 0 and 1,
 * `hi` lanes 2 and 3, so that the two additions per step do not wait on each other.
 */
interface WideSum {
  readonly lo: number;
  readonly hi: number;
}

function wideSum(w: FunctionWriter): WideSum {
  return { lo: w.local(V128), hi: w.local(V128) };
}

function zeroWide(w: FunctionWriter, { lo, hi }: WideSum): void {
  w.v128Zero().set(lo);
  w.v128Zero().set(hi);
}

/** Lanes 0, 1 of the f32x4 local `v` as f64x2. */
function promoteLow(w: FunctionWriter, v: number): FunctionWriter {
  return w.get(v).simd(Simd.f64x2PromoteLowF32x4);
}

/** Lanes 2, 3 of the f32x4 local `v` as f64x2 (moved down by a byte shuffle first). */
function promoteHigh(w: FunctionWriter, v: number): FunctionWriter {
  w.get(v).get(v).simd(Simd.i8x16Shuffle);
  for (let i = 0; i < 16; i++) w.code.push(8 + (i % 8));
  return w.simd(Simd.f64x2PromoteLowF32x4);
}

/** sum += the four lanes of the f32x4 local `v`, each widened to float64 (exact). */
function addWide(w: FunctionWriter, { lo, hi }: WideSum, v: number): void {
  w.get(lo);
  promoteLow(w, v).simd(Simd.f64x2Add).set(lo);
  w.get(hi);
  promoteHigh(w, v).simd(Simd.f64x2Add).set(hi);
}

/** Push the scalar float64 total of the four lanes of `sum` (`pair` is a v128 scratch local). */
function totalWide(w: FunctionWriter, { lo, hi }: WideSum, pair: number): void {
  w.get(lo).get(hi).simd(Simd.f64x2Add).set(pair);
  w.get(pair).simd(Simd.f64x2ExtractLane);
  w.code.push(0);
  w.get(pair).simd(Simd.f64x2ExtractLane);
  w.code.push(1);
  w.op(Scalar.f64Add);
}

function layerNormRows(withSilu: boolean): FunctionSpec {
  const w = new FunctionWriter(9);
  const [x, y, rows, rowBytes, gamma, beta, mean, rstd, eps] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  const count = w.local(F64);
  const m = w.local(F32);
  const r = w.local(F32);
  const sum = wideSum(w);
  const v = w.local(V128);
  const d = w.local(V128);
  const pair = w.local(V128);
  const mWide = w.local(V128);
  const mSplat = w.local(V128);
  const rSplat = w.local(V128);
  const sigmoid = sigmoidLocals(w);
  w.get(rowBytes).i32(2).op(Scalar.i32ShrU).op(Scalar.f64ConvertI32U).set(count);
  eachRow(w, rows, () => {
    // μ = fround(Σx / C), stored to mean[row].
    zeroWide(w, sum);
    eachQuad(w, rowBytes, (q) => {
      load(w, x, q).set(v);
      addWide(w, sum, v);
    });
    w.get(mean);
    totalWide(w, sum, pair);
    w.get(count).op(Scalar.f64Div).op(Scalar.f32DemoteF64).tee(m).memory(Op.f32Store, 0, 4);
    // r = fround(1/√(Σ(x − μ)²/C + eps)), squares of float64 differences: no cancellation.
    w.get(m).op(Scalar.f64PromoteF32).simd(Simd.f64x2Splat).set(mWide);
    zeroWide(w, sum);
    eachQuad(w, rowBytes, (q) => {
      load(w, x, q).set(v);
      w.get(sum.lo);
      promoteLow(w, v).get(mWide).simd(Simd.f64x2Sub).tee(d).get(d).simd(Simd.f64x2Mul).simd(Simd.f64x2Add).set(sum.lo);
      w.get(sum.hi);
      promoteHigh(w, v).get(mWide).simd(Simd.f64x2Sub).tee(d).get(d).simd(Simd.f64x2Mul).simd(Simd.f64x2Add).set(sum.hi);
    });
    w.get(rstd);
    f64Const(w, 1);
    totalWide(w, sum, pair);
    w.get(count).op(Scalar.f64Div).get(eps).op(Scalar.f64Add).op(Scalar.f64Sqrt).op(Scalar.f64Div);
    w.op(Scalar.f32DemoteF64).tee(r).memory(Op.f32Store, 0, 4);
    // y = ((x − μ)·r)·γ + β: centring first keeps a large mean from cancelling in float32.
    w.get(m).simd(Simd.f32x4Splat).set(mSplat);
    w.get(r).simd(Simd.f32x4Splat).set(rSplat);
    eachQuad(w, rowBytes, (q) => {
      address(w, y, q);
      load(w, x, q).get(mSplat).simd(Simd.f32x4Sub).get(rSplat).simd(SimdOp.f32x4Mul);
      load(w, gamma, q).simd(SimdOp.f32x4Mul);
      load(w, beta, q).simd(SimdOp.f32x4Add);
      if (withSilu) {
        emitSigmoid(w, sigmoid);
        w.get(sigmoid.n).simd(SimdOp.f32x4Mul);
      }
      store(w);
    });
    advance(w, x, rowBytes);
    advance(w, y, rowBytes);
    advance(w, mean, { constant: 4 });
    advance(w, rstd, { constant: 4 });
  });
  return { params: [I32, I32, I32, I32, I32, I32, I32, I32, F64], body: w, exportName: withSilu ? 'layerNormRowsSilu' : 'layerNormRows' };
}

/** sum[c] += block[c] (float32 widened into float64, sum 8 bytes a channel) and block[c] = 0, for all C channels. */
function drainBlock(w: FunctionWriter, rowBytes: number, block: number, sum: number, v: number, wide: number): void {
  eachQuad(w, rowBytes, (q) => {
    load(w, block, q).set(v);
    w.get(q).i32(1).op(Scalar.i32Shl).get(sum).op(Op.i32Add).set(wide);
    w.get(wide);
    w.get(wide).simdMemory(SimdOp.v128Load, 0, 16);
    promoteLow(w, v).simd(Simd.f64x2Add);
    w.simdMemory(SimdOp.v128Store, 0, 16);
    w.get(wide);
    w.get(wide).simdMemory(SimdOp.v128Load, 16, 16);
    promoteHigh(w, v).simd(Simd.f64x2Add);
    w.simdMemory(SimdOp.v128Store, 16, 16);
    address(w, block, q).v128Zero();
    store(w);
  });
}

function layerNormRowsGrad(withSilu: boolean): FunctionSpec {
  const w = new FunctionWriter(14);
  const [dy, x, dx, rows, rowBytes, gamma, beta, mean, rstd, blockRows, blockDn, blockDnXHat, sumDn, sumDnXHat] = [
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13,
  ];
  const count = w.local(F64);
  const left = w.local(I32);
  const wide = w.local(I32);
  const mSplat = w.local(V128);
  const rSplat = w.local(V128);
  const meanU = w.local(V128);
  const meanUXHat = w.local(V128);
  const sumU = wideSum(w);
  const sumUXHat = wideSum(w);
  const xHat = w.local(V128);
  const d = w.local(V128);
  const u = w.local(V128);
  const t = w.local(V128);
  const s = w.local(V128);
  const pair = w.local(V128);
  const sigmoid = sigmoidLocals(w);
  const drain = (): void => {
    drainBlock(w, rowBytes, blockDn, sumDn, t, wide);
    drainBlock(w, rowBytes, blockDnXHat, sumDnXHat, t, wide);
  };
  /** Push x̂ = (x − μ)·r for the four channels at q, exactly as the forward computed it. */
  const pushXHat = (q: number): void => {
    load(w, x, q).get(mSplat).simd(Simd.f32x4Sub).get(rSplat).simd(SimdOp.f32x4Mul);
  };
  w.get(rowBytes).i32(2).op(Scalar.i32ShrU).op(Scalar.f64ConvertI32U).set(count);
  w.get(blockRows).set(left);
  eachRow(w, rows, () => {
    w.get(mean).simdMemory(SimdOp.v128Load32Splat, 0, 4).set(mSplat);
    w.get(rstd).simdMemory(SimdOp.v128Load32Splat, 0, 4).set(rSplat);
    zeroWide(w, sumU);
    zeroWide(w, sumUXHat);
    // Pass 1: dn (kept in dx with SiLU), the row sums of u = dn·γ and u·x̂, the column blocks.
    eachQuad(w, rowBytes, (q) => {
      pushXHat(q);
      w.set(xHat);
      load(w, dy, q);
      if (withSilu) {
        multiplySiluDerivative(w, { xHat, gamma, beta, q, s, sigmoid });
        w.set(d);
        address(w, dx, q).get(d);
        store(w);
      } else {
        w.set(d);
      }
      w.get(d);
      load(w, gamma, q).simd(SimdOp.f32x4Mul).set(u);
      addWide(w, sumU, u);
      w.get(u).get(xHat).simd(SimdOp.f32x4Mul).set(t);
      addWide(w, sumUXHat, t);
      accumulate(w, blockDn, q, () => w.get(d));
      accumulate(w, blockDnXHat, q, () => w.get(d).get(xHat).simd(SimdOp.f32x4Mul));
    });
    totalWide(w, sumU, pair);
    w.get(count).op(Scalar.f64Div).op(Scalar.f32DemoteF64).simd(Simd.f32x4Splat).set(meanU);
    totalWide(w, sumUXHat, pair);
    w.get(count).op(Scalar.f64Div).op(Scalar.f32DemoteF64).simd(Simd.f32x4Splat).set(meanUXHat);
    // Pass 2: dx = ((u − mean(u)) − x̂·mean(u·x̂))·r, the row still in cache.
    eachQuad(w, rowBytes, (q) => {
      address(w, dx, q);
      load(w, withSilu ? dx : dy, q);
      load(w, gamma, q).simd(SimdOp.f32x4Mul);
      w.get(meanU).simd(Simd.f32x4Sub);
      pushXHat(q);
      w.get(meanUXHat).simd(SimdOp.f32x4Mul).simd(Simd.f32x4Sub);
      w.get(rSplat).simd(SimdOp.f32x4Mul);
      store(w);
    });
    advance(w, dy, rowBytes);
    advance(w, x, rowBytes);
    advance(w, dx, rowBytes);
    advance(w, mean, { constant: 4 });
    advance(w, rstd, { constant: 4 });
    // Every blockRows rows the float32 column blocks move into float64.
    w.get(left).i32(1).op(Scalar.i32Sub).tee(left).op(Op.i32Eqz);
    w.begin(Op.if);
    drain();
    w.get(blockRows).set(left);
    w.op(Op.end);
  });
  drain();
  return { params: Array(14).fill(I32), body: w, exportName: withSilu ? 'layerNormRowsGradSilu' : 'layerNormRowsGrad' };
}

/**
 * `columnSumsBlocked`: the rows walked by advancing `x` by the row stride, each row's first
 * `widthBytes` bytes added into the float32 block, drained into float64 like `layerNormRowsGrad`'s
 * parameter-gradient blocks. Stride and width are separate so that a row whose length is not a
 * multiple of 4 floats keeps its 1–3 trailing columns out of the SIMD loop (the caller sums them).
 */
function columnSumsBlocked(): FunctionSpec {
  const w = new FunctionWriter(7);
  const [x, rows, rowBytes, widthBytes, blockRows, block, sums] = [0, 1, 2, 3, 4, 5, 6];
  const left = w.local(I32);
  const wide = w.local(I32);
  const v = w.local(V128);
  w.get(blockRows).set(left);
  eachRow(w, rows, () => {
    eachQuad(w, widthBytes, (q) => accumulate(w, block, q, () => load(w, x, q)));
    advance(w, x, rowBytes);
    w.get(left).i32(1).op(Scalar.i32Sub).tee(left).op(Op.i32Eqz);
    w.begin(Op.if);
    drainBlock(w, widthBytes, block, sums, v, wide);
    w.get(blockRows).set(left);
    w.op(Op.end);
  });
  drainBlock(w, widthBytes, block, sums, v, wide);
  return { params: Array(7).fill(I32), body: w, exportName: 'columnSumsBlocked' };
}

let compiled: WebAssembly.Module | undefined;
const instances = new WeakMap<WebAssembly.Memory, NormSimd>();

/** The SIMD functions bound to `memory` (the wasm backend's heap); one instance per memory. */
export function normSimdFor(memory: WebAssembly.Memory): NormSimd {
  let instance = instances.get(memory);
  if (instance === undefined) {
    compiled ??= new WebAssembly.Module(
      encodeModule(
        [
          columnSums(), columnSquares(), affine(false), affine(true), gradGather(false), gradGather(true), gradApply(),
          layerNormRows(false), layerNormRows(true), layerNormRowsGrad(false), layerNormRowsGrad(true),
          columnSumsBlocked(),
        ],
        1,
      ),
    );
    instance = new WebAssembly.Instance(compiled, { env: { memory } }).exports as unknown as NormSimd;
    instances.set(memory, instance);
  }
  return instance;
}
