import { FunctionWriter, I32, Op, SimdOp, V128, encodeModule, type FunctionSpec } from '@gq/codebook/internal';

/*
 * 128-bit SIMD loops for the fused normalisation kernels, emitted as WebAssembly that imports the
 * wasm backend's own memory, so they read and write tensors where they lie. Each function walks
 * `rows` rows of a [rows, C] slice (C a multiple of 4, a row `rowBytes` = 4·C bytes long) with
 * per-channel vectors of C floats (coefficients, accumulators); all addresses are byte offsets
 * into the backend's heap. The accumulating functions add into float32 vectors that the caller
 * zeroes and drains into float64 every block of rows, which bounds float32 rounding.
 */

/** SIMD opcodes beyond the emitter's set (WebAssembly 2.0, after the 0xFD prefix). */
const Simd = {
  f32x4Splat: 0x13,
  f32x4Nearest: 0x6a,
  i32x4Shl: 0xab,
  i32x4Add: 0xae,
  f32x4Sub: 0xe5,
  f32x4Div: 0xe7,
  f32x4Min: 0xe8,
  f32x4Max: 0xe9,
  i32x4TruncSatF32x4S: 0xf8,
} as const;

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
      // silu′(n) = σ(n)·(1 + n·(1 − σ(n)))
      w.get(xHat);
      load(w, gamma, q).simd(SimdOp.f32x4Mul);
      load(w, beta, q).simd(SimdOp.f32x4Add);
      emitSigmoid(w, sigmoid);
      w.tee(s);
      splat(w, 1);
      w.get(sigmoid.n);
      splat(w, 1).get(s).simd(Simd.f32x4Sub);
      w.simd(SimdOp.f32x4Mul).simd(SimdOp.f32x4Add).simd(SimdOp.f32x4Mul);
      w.simd(SimdOp.f32x4Mul);
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

let compiled: WebAssembly.Module | undefined;
const instances = new WeakMap<WebAssembly.Memory, NormSimd>();

/** The SIMD functions bound to `memory` (the wasm backend's heap); one instance per memory. */
export function normSimdFor(memory: WebAssembly.Memory): NormSimd {
  let instance = instances.get(memory);
  if (instance === undefined) {
    compiled ??= new WebAssembly.Module(
      encodeModule([columnSums(), columnSquares(), affine(false), affine(true), gradGather(false), gradGather(true), gradApply()], 1),
    );
    instance = new WebAssembly.Instance(compiled, { env: { memory } }).exports as unknown as NormSimd;
    instances.set(memory, instance);
  }
  return instance;
}
