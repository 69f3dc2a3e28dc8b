import { F32, FunctionWriter, I32, Op, SimdOp, V128, encodeModule, type FunctionSpec, type ValueType } from '@gq/codebook/internal';

/*
 * 128-bit SIMD loops for the fused layer kernels (normalisation, GELU), emitted as WebAssembly that imports the
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
  v128Bitselect: 0x52,
  f32x4Abs: 0xe0,
  f32x4Neg: 0xe1,
  f32x4Splat: 0x13,
  f64x2Splat: 0x14,
  f64x2ExtractLane: 0x21,
  f64x2PromoteLowF32x4: 0x5f,
  f32x4Nearest: 0x6a,
  i32x4Shl: 0xab,
  f32x4Sub: 0xe5,
  f32x4Div: 0xe7,
  f32x4Pmin: 0xea,
  f32x4Pmax: 0xeb,
  i32x4Sub: 0xb1,
  f64x2Add: 0xf0,
  f64x2Sub: 0xf1,
  f64x2Mul: 0xf2,
} as const;

/** Scalar opcodes beyond the emitter's set (float64 arithmetic and conversions). */
const Scalar = {
  f64Const: 0x44,
  i32GtU: 0x4b,
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
  /*
   * The group-normalisation passes, each over `images` consecutive [rows, C] slices (C = rowBytes/4)
   * in one call. Per-image coefficient vectors ([images, C] float32, one row of C per image) advance
   * with the images; float32 column sums run in blocks (zeroed by the caller) drained into the float64
   * sums ([images, C], 8 bytes a channel) every `blockRows` rows of an image and at its end.
   */
  /** sums[i, c] += Σ_r x[i, r, c]. */
  columnSumsImages(x: number, images: number, rows: number, rowBytes: number, blockRows: number, block: number, sums: number): void;
  /** sums[i, c] += Σ_r (x[i, r, c] − mean[i, c])². */
  columnSquaresImages(x: number, images: number, rows: number, rowBytes: number, mean: number, blockRows: number, block: number, sums: number): void;
  /** y[i, r, c] = x[i, r, c]·a[i, c] + b[i, c]. */
  affineImages(x: number, y: number, images: number, rows: number, rowBytes: number, a: number, b: number): void;
  /** y[i, r, c] = silu(x[i, r, c]·a[i, c] + b[i, c]). */
  affineSiluImages(x: number, y: number, images: number, rows: number, rowBytes: number, a: number, b: number): void;
  /**
   * With x̂ = x·xScale[i, c] + xShift[i, c]: dn = dy (or dy·silu′(x̂·γ[c] + β[c])) stored to `dn`,
   * sumDn[i, c] += dn, sumDnXHat[i, c] += dn·x̂ (blocked as above). `dn` may alias `dy`.
   */
  gradGatherImages(
    dy: number, x: number, dn: number, images: number, rows: number, rowBytes: number, xScale: number, xShift: number, gamma: number, beta: number,
    blockRows: number, blockDn: number, blockDnXHat: number, sumDn: number, sumDnXHat: number,
  ): void;
  /** As `gradGatherImages` with SiLU. */
  gradGatherSiluImages(
    dy: number, x: number, dn: number, images: number, rows: number, rowBytes: number, xScale: number, xShift: number, gamma: number, beta: number,
    blockRows: number, blockDn: number, blockDnXHat: number, sumDn: number, sumDnXHat: number,
  ): void;
  /**
   * As `gradGatherImages` with SiLU, σ(n) taken from the forward's output y = n·σ(n) rather than
   * recomputed: n = x·a[i, c] + b[i, c] with the forward's own affine coefficients (so n is the
   * forward's n, bit for bit), σ = y/n (½ where n = 0), dn = dy·(σ + y·(1 − σ)).
   */
  gradGatherSiluOutputImages(
    dy: number, x: number, dn: number, images: number, rows: number, rowBytes: number, xScale: number, xShift: number, y: number, a: number, b: number,
    blockRows: number, blockDn: number, blockDnXHat: number, sumDn: number, sumDnXHat: number,
  ): void;
  /** dx[i, r, c] = dn[i, r, c]·p[i, c] + x[i, r, c]·q[i, c] + t[i, c] (`dx` may alias `dn`). */
  gradApplyImages(dn: number, x: number, dx: number, images: number, rows: number, rowBytes: number, p: number, q: number, t: number): void;
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
  /**
   * Nearest ×2 upsampling of `rows` input rows (batch·height) of `width` pixels of `pixelBytes`
   * bytes (a multiple of 16): each pixel written to its 2×2 block of output rows 2r and 2r + 1.
   */
  upsampleNearest2x(x: number, y: number, rows: number, width: number, pixelBytes: number): void;
  /** Its gradient: dx[r, i] = ((dy[2r, 2i] + dy[2r, 2i + 1]) + dy[2r + 1, 2i]) + dy[2r + 1, 2i + 1]. */
  upsampleNearest2xGrad(dy: number, dx: number, rows: number, width: number, pixelBytes: number): void;
  /** y = x·Φ(x) over `bytes` bytes (a multiple of 16), Φ as in `phiSteps`. */
  gelu(x: number, y: number, bytes: number): void;
  /** dx = dy·(Φ(x) + x·φ(x)) over `bytes` bytes (a multiple of 16); `dx` may alias `dy`. */
  geluGrad(dy: number, x: number, dx: number, bytes: number): void;
}

function splat(w: FunctionWriter, value: number): FunctionWriter {
  w.simd(SimdOp.v128Const);
  const bytes = new Uint8Array(Float32Array.of(value, value, value, value).buffer);
  for (const b of bytes) w.code.push(b);
  return w;
}

/**
 * e^v of the f32x4 in local `v`, written back to `v`, as stack-neutral steps (so several independent
 * values can be interleaved step by step): v clamped to [−80, 80], v·log2(e) = k + f with k = nearest
 * integer, 2^k built in the exponent bits, e^{f·ln 2} (|f·ln 2| ≤ 0.35) from its degree-6 Taylor
 * polynomial (relative error ≤ 2e-7, about float32's rounding). `k` and `f` are scratch.
 *
 * The clamp uses f32x4.pmax/pmin (one x64 instruction each; f32x4.max/min's NaN and signed-zero
 * rules take about seven), with v first so that a NaN passes through. 2^k takes k + 1.5·2²³, whose
 * low mantissa bits hold k exactly for |k| < 2²², re-biased by an integer subtraction and shifted
 * into the exponent (three instructions; i32x4.trunc_sat_f32x4_s's saturation takes about seven).
 * Both give the same values as the longer forms for every finite v.
 */
function expSteps(v: number, k: number, f: number, constant: PushConstant = splat): Step[] {
  // Horner: 1 + f(1 + f(1/2 + f(1/6 + f(1/24 + f(1/120 + f/720)))))
  const coefficients = [1 / 120, 1 / 24, 1 / 6, 1 / 2, 1, 1];
  return [
    (w) => {
      w.get(v);
      constant(w, -80).simd(Simd.f32x4Pmax);
      constant(w, 80).simd(Simd.f32x4Pmin);
      constant(w, Math.LOG2E).simd(SimdOp.f32x4Mul).set(v);
    },
    (w) => w.get(v).simd(Simd.f32x4Nearest).set(k),
    (w) => {
      w.get(v).get(k).simd(Simd.f32x4Sub);
      constant(w, Math.LN2).simd(SimdOp.f32x4Mul).set(f);
    },
    (w) => constant(w, 1 / 720).set(v),
    ...coefficients.map((c): Step => (w) => {
      w.get(v).get(f).simd(SimdOp.f32x4Mul);
      constant(w, c).simd(SimdOp.f32x4Add).set(v);
    }),
    (w) => {
      // 2^k: the bits of k + 1.5·2²³ are 0x4B400000 + k; minus (0x4B400000 − 127), shifted by 23.
      w.get(v);
      w.get(k);
      constant(w, exponentMagic).simd(SimdOp.f32x4Add);
      constant(w, exponentRebias).simd(Simd.i32x4Sub).i32(23).simd(Simd.i32x4Shl);
      w.simd(SimdOp.f32x4Mul).set(v);
    },
  ];
}

/** One stack-neutral piece of emitted code (it reads and writes locals only). */
type Step = (w: FunctionWriter) => void;

/** Pushes a float32 splat of `value` (a v128.const, or a local holding it). */
type PushConstant = (w: FunctionWriter, value: number) => FunctionWriter;

/** 1.5·2²³: added to an integer-valued float32 k (|k| < 2²²), it leaves 0x4B400000 + k in the bits. */
const exponentMagic = 1.5 * 2 ** 23;

/** The float32 whose bits are the integer 0x4B400000 − 127, splat for the i32x4 subtraction in 2^k. */
const exponentRebias = new Float32Array(Int32Array.of(0x4b400000 - 127).buffer)[0]!;

/**
 * Hold each of `values` in a v128 local set once at this point (before a loop), and push from those
 * locals: a v128.const in a loop body costs several instructions per use, a local one load at most.
 */
function constantLocals(w: FunctionWriter, values: readonly number[]): PushConstant {
  const locals = new Map<number, number>();
  for (const value of values) {
    if (locals.has(value)) continue;
    const local = w.local(V128);
    splat(w, value).set(local);
    locals.set(value, local);
  }
  return (writer, value) => {
    const local = locals.get(value);
    return local === undefined ? splat(writer, value) : writer.get(local);
  };
}

/** Emit `chains` (each a list of steps of equal length) step by step across chains, so independent dependency chains interleave. */
function interleave(w: FunctionWriter, chains: readonly (readonly Step[])[]): void {
  const length = chains[0]?.length ?? 0;
  for (let i = 0; i < length; i++) for (const chain of chains) chain[i]!(w);
}

/** Emits e^v for the f32x4 on the stack, leaving e^v (`t` keeps v; `k`, `f` are scratch; see `expSteps`). */
function emitExp(w: FunctionWriter, t: number, k: number, f: number, constant: PushConstant): void {
  w.set(t);
  interleave(w, [expSteps(t, k, f, constant)]);
  w.get(t);
}

/** The v128 locals `emitSigmoid` works in (`n` keeps its argument) and its constants. */
interface SigmoidLocals {
  readonly n: number;
  readonly t: number;
  readonly k: number;
  readonly f: number;
  readonly constant: PushConstant;
}

/** Every constant σ's exponential uses (see `expSteps`), and 1. */
const sigmoidConstants = [1, -80, 80, Math.LOG2E, Math.LN2, 1 / 720, 1 / 120, 1 / 24, 1 / 6, 1 / 2, exponentMagic, exponentRebias];

/** The locals of `emitSigmoid`, its constants set here (call before the loop that uses them). */
function sigmoidLocals(w: FunctionWriter): SigmoidLocals {
  const constant = constantLocals(w, sigmoidConstants);
  return { n: w.local(V128), t: w.local(V128), k: w.local(V128), f: w.local(V128), constant };
}

/** σ(n) = 1/(1 + e^{−n}) of the f32x4 on the stack (n is left in `locals.n`). */
function emitSigmoid(w: FunctionWriter, { n, t, k, f, constant }: SigmoidLocals): void {
  w.set(n);
  constant(w, 1);
  constant(w, 1);
  w.v128Zero().get(n).simd(Simd.f32x4Sub);
  emitExp(w, t, k, f, constant);
  w.simd(SimdOp.f32x4Add).simd(Simd.f32x4Div);
}

/**
 * Coefficients c₀…c₉ of erfc(z) ≈ t·exp(−z² + Σ cᵢ tⁱ) with t = 1/(1 + z/2), z ≥ 0 (Chebyshev
 * fit, relative error below 1.2e-7 for every z ≥ 0, so Φ keeps its precision far into the lower tail).
 */
export const erfcCoefficients = [
  -1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806, 0.27886807, -1.13520398, 1.48851587, -0.82215223, 0.17087277,
] as const;

/** The v128 locals of one GELU chain: `x` its input, `phi` Φ(x) when `phiSteps` end; the rest scratch. */
interface GeluLocals {
  readonly x: number;
  readonly z: number;
  readonly t: number;
  readonly phi: number;
  readonly k: number;
  readonly f: number;
}

function geluLocals(w: FunctionWriter): GeluLocals {
  return { x: w.local(V128), z: w.local(V128), t: w.local(V128), phi: w.local(V128), k: w.local(V128), f: w.local(V128) };
}

/**
 * Φ(x) = P(N(0, 1) ≤ x) of local `x` into local `phi`: with z = |x|/√2, h = erfc(z)/2 from
 * `erfcCoefficients`, Φ = 1 − h for x ≥ 0 and h below (no cancellation in the lower tail).
 */
function phiSteps({ x, z, t, phi, k, f }: GeluLocals, constant: PushConstant): Step[] {
  const top = erfcCoefficients.length - 1;
  return [
    (w) => {
      w.get(x).simd(Simd.f32x4Abs);
      constant(w, Math.SQRT1_2).simd(SimdOp.f32x4Mul).set(z);
    },
    (w) => {
      constant(w, 1);
      constant(w, 1);
      w.get(z);
      constant(w, 0.5).simd(SimdOp.f32x4Mul).simd(SimdOp.f32x4Add).simd(Simd.f32x4Div).set(t);
    },
    (w) => constant(w, erfcCoefficients[top]!).set(phi),
    ...erfcCoefficients.slice(0, top).reverse().map((c): Step => (w) => {
      w.get(phi).get(t).simd(SimdOp.f32x4Mul);
      constant(w, c).simd(SimdOp.f32x4Add).set(phi);
    }),
    (w) => w.get(phi).get(z).get(z).simd(SimdOp.f32x4Mul).simd(Simd.f32x4Sub).set(phi),
    ...expSteps(phi, k, f, constant),
    (w) => {
      w.get(phi).get(t).simd(SimdOp.f32x4Mul);
      constant(w, 0.5).simd(SimdOp.f32x4Mul).set(z);
    },
    (w) => {
      constant(w, 1).get(z).simd(Simd.f32x4Sub);
      w.get(z);
      w.get(x).v128Zero().simd(SimdOp.f32x4Ge);
      w.simd(Simd.v128Bitselect).set(phi);
    },
  ];
}

/** Every constant the GELU loops use, held in locals. */
const geluConstants = [
  Math.SQRT1_2, 1, 0.5, -0.5, ...erfcCoefficients, -80, 80, Math.LOG2E, Math.LN2, 1 / 720, 1 / 120, 1 / 24, 1 / 6, exponentMagic, exponentRebias, 1 / Math.sqrt(2 * Math.PI),
];

/** GELU chains per loop iteration: independent values in flight, so the long dependency chain of Φ does not serialise the loop. */
const geluChains = 2;

/**
 * The loop shared by `gelu` and `geluGrad`: `geluChains` quads per iteration (chain c at byte
 * offset q + 16c, one local set each), then single quads to the end. `body(chains, q)` emits an
 * iteration's work for that many chains at byte offset q.
 */
function geluLoop(w: FunctionWriter, bytes: number, body: (chains: readonly GeluLocals[], q: number, constant: PushConstant) => void): void {
  const constant = constantLocals(w, geluConstants);
  const locals = Array.from({ length: geluChains }, () => geluLocals(w));
  const q = w.local(I32);
  w.i32(0).set(q);
  for (const width of [geluChains, 1]) {
    w.begin(Op.block).begin(Op.loop);
    w.get(q).i32(16 * width).op(Op.i32Add).get(bytes).op(Scalar.i32GtU).branch(Op.brIf, 1);
    body(locals.slice(0, width), q, constant);
    w.get(q).i32(16 * width).op(Op.i32Add).set(q);
    w.branch(Op.br, 0);
    w.op(Op.end).op(Op.end);
  }
}

/** `gelu`: y = x·Φ(x). */
function geluForward(): FunctionSpec {
  const w = new FunctionWriter(3);
  const [x, y, bytes] = [0, 1, 2];
  geluLoop(w, bytes, (chains, q, constant) => {
    chains.forEach((l, c) => w.get(x).get(q).op(Op.i32Add).simdMemory(SimdOp.v128Load, 16 * c, 16).set(l.x));
    interleave(w, chains.map((l) => phiSteps(l, constant)));
    chains.forEach((l, c) => {
      w.get(y).get(q).op(Op.i32Add);
      w.get(l.x).get(l.phi).simd(SimdOp.f32x4Mul);
      w.simdMemory(SimdOp.v128Store, 16 * c, 16);
    });
  });
  return { params: [I32, I32, I32], body: w, exportName: 'gelu' };
}

/** `geluGrad`: dx = dy·(Φ(x) + x·φ(x)) with φ(x) = e^{−x²/2}/√(2π). */
function geluBackward(): FunctionSpec {
  const w = new FunctionWriter(4);
  const [dy, x, dx, bytes] = [0, 1, 2, 3];
  geluLoop(w, bytes, (chains, q, constant) => {
    chains.forEach((l, c) => w.get(x).get(q).op(Op.i32Add).simdMemory(SimdOp.v128Load, 16 * c, 16).set(l.x));
    // φ's exponential runs in `t` after Φ is done with it (k and f are scratch again).
    const density = (l: GeluLocals): Step[] => [
      (w) => {
        w.get(l.x).get(l.x).simd(SimdOp.f32x4Mul);
        constant(w, -0.5).simd(SimdOp.f32x4Mul).set(l.t);
      },
      ...expSteps(l.t, l.k, l.f, constant),
    ];
    interleave(w, chains.map((l) => [...phiSteps(l, constant), ...density(l)]));
    chains.forEach((l, c) => {
      w.get(dx).get(q).op(Op.i32Add);
      w.get(dy).get(q).op(Op.i32Add).simdMemory(SimdOp.v128Load, 16 * c, 16);
      w.get(l.phi).get(l.x).get(l.t).simd(SimdOp.f32x4Mul);
      constant(w, 1 / Math.sqrt(2 * Math.PI)).simd(SimdOp.f32x4Mul).simd(SimdOp.f32x4Add);
      w.simd(SimdOp.f32x4Mul);
      w.simdMemory(SimdOp.v128Store, 16 * c, 16);
    });
  });
  return { params: [I32, I32, I32, I32], body: w, exportName: 'geluGrad' };
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
  at.sigmoid.constant(w, 1);
  w.get(at.sigmoid.n);
  at.sigmoid.constant(w, 1).get(at.s).simd(Simd.f32x4Sub);
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

/**
 * `images` times: `perImage()`, then each [pointer, bytes] of `advances` moved on (`bytes` a local or
 * a constant). `images` counts down.
 */
function eachImage(w: FunctionWriter, images: number, perImage: () => void, advances: readonly (readonly [number, number])[]): void {
  eachRow(w, images, () => {
    perImage();
    for (const [pointer, bytes] of advances) advance(w, pointer, bytes);
  });
}

/** A local set to rows·rowBytes (an image's bytes) and one to 2·rowBytes (a float64 row of C). */
function imageStrides(w: FunctionWriter, rows: number, rowBytes: number): { image: number; wide: number } {
  const image = w.local(I32);
  const wide = w.local(I32);
  w.get(rows).get(rowBytes).op(Op.i32Mul).set(image);
  w.get(rowBytes).i32(1).op(Scalar.i32Shl).set(wide);
  return { image, wide };
}

function columnSumsImages(): FunctionSpec {
  const w = new FunctionWriter(7);
  const [x, images, rows, rowBytes, blockRows, block, sums] = [0, 1, 2, 3, 4, 5, 6];
  const { wide } = imageStrides(w, rows, rowBytes);
  const left = w.local(I32);
  eachImage(
    w,
    images,
    () => {
      w.get(rows).set(left);
      blockedRows(w, { rows: left, rowBytes, blockRows }, [x], [{ block, sums }], () => eachQuad(w, rowBytes, (q) => accumulate(w, block, q, () => load(w, x, q))));
    },
    [[sums, wide]],
  );
  return { params: Array(7).fill(I32), body: w, exportName: 'columnSumsImages' };
}

function columnSquaresImages(): FunctionSpec {
  const w = new FunctionWriter(8);
  const [x, images, rows, rowBytes, mean, blockRows, block, sums] = [0, 1, 2, 3, 4, 5, 6, 7];
  const { wide } = imageStrides(w, rows, rowBytes);
  const left = w.local(I32);
  const d = w.local(V128);
  eachImage(
    w,
    images,
    () => {
      w.get(rows).set(left);
      blockedRows(w, { rows: left, rowBytes, blockRows }, [x], [{ block, sums }], () =>
        eachQuad(w, rowBytes, (q) =>
          accumulate(w, block, q, () => {
            load(w, x, q);
            load(w, mean, q).simd(Simd.f32x4Sub).tee(d).get(d).simd(SimdOp.f32x4Mul);
          }),
        ),
      );
    },
    [[mean, rowBytes], [sums, wide]],
  );
  return { params: Array(8).fill(I32), body: w, exportName: 'columnSquaresImages' };
}

function affineImages(withSilu: boolean): FunctionSpec {
  const w = new FunctionWriter(7);
  const [x, y, images, rows, rowBytes, a, b] = [0, 1, 2, 3, 4, 5, 6];
  const { image } = imageStrides(w, rows, rowBytes);
  const sigmoid = sigmoidLocals(w);
  eachImage(
    w,
    images,
    () =>
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
      }),
    [[x, image], [y, image], [a, rowBytes], [b, rowBytes]],
  );
  return { params: Array(7).fill(I32), body: w, exportName: withSilu ? 'affineSiluImages' : 'affineImages' };
}

/**
 * The parameters `gradGatherStep` reads: tensor and per-channel vector addresses, and the sums it
 * adds into. With SiLU either `gamma` and `beta` (σ recomputed from n = x̂·γ + β) or the forward's
 * output `y` with its affine coefficients `a` and `b` (σ = y/n with n = x·a + b).
 */
interface GatherAt {
  readonly dy: number;
  readonly x: number;
  readonly dn: number;
  readonly xScale: number;
  readonly xShift: number;
  readonly gamma: number;
  readonly beta: number;
  readonly sumDn: number;
  readonly sumDnXHat: number;
  readonly output?: { readonly y: number; readonly a: number; readonly b: number };
}

const f32x4Eq = 0x41;

/**
 * Multiply the f32x4 on the stack (dy) by silu′(n) = σ + y·(1 − σ), with n = x·a[q] + b[q] (the
 * forward's n), y the forward's output at `i` and σ = y/n, or ½ where n = 0 (0/0 otherwise).
 */
function multiplySiluDerivativeFromOutput(
  w: FunctionWriter,
  at: { readonly x: number; readonly y: number; readonly a: number; readonly b: number; readonly i: number; readonly q: number },
  locals: { readonly n: number; readonly yv: number; readonly s: number; readonly constant: PushConstant },
): void {
  const { n, yv, s, constant } = locals;
  load(w, at.x, at.i);
  load(w, at.a, at.q).simd(SimdOp.f32x4Mul);
  load(w, at.b, at.q).simd(SimdOp.f32x4Add).set(n);
  load(w, at.y, at.i).set(yv);
  // σ = n ≠ 0 ? y/n : ½ (bitselect takes its first operand where the mask is set).
  constant(w, 0.5);
  w.get(yv).get(n).simd(Simd.f32x4Div);
  w.get(n).v128Zero().simd(f32x4Eq);
  w.simd(Simd.v128Bitselect).set(s);
  // dy·(σ + y·(1 − σ))
  w.get(s).get(yv);
  constant(w, 1).get(s).simd(Simd.f32x4Sub);
  w.simd(SimdOp.f32x4Mul).simd(SimdOp.f32x4Add);
  w.simd(SimdOp.f32x4Mul);
}

/** The locals `gradGatherStep` works in. */
function gatherLocals(w: FunctionWriter): { xHat: number; d: number; s: number; n: number; yv: number; sigmoid: SigmoidLocals } {
  return { xHat: w.local(V128), d: w.local(V128), s: w.local(V128), n: w.local(V128), yv: w.local(V128), sigmoid: sigmoidLocals(w) };
}

/** One four-channel step of `gradGather` at element offset `i` and channel offset `q`. */
function gradGatherStep(w: FunctionWriter, at: GatherAt, locals: ReturnType<typeof gatherLocals>, withSilu: boolean, i: number, q: number): void {
  const { xHat, d, s, sigmoid } = locals;
  load(w, at.x, i);
  load(w, at.xScale, q).simd(SimdOp.f32x4Mul);
  load(w, at.xShift, q).simd(SimdOp.f32x4Add).set(xHat);
  load(w, at.dy, i);
  if (withSilu && at.output !== undefined) {
    multiplySiluDerivativeFromOutput(w, { x: at.x, ...at.output, i, q }, { n: locals.n, yv: locals.yv, s, constant: sigmoid.constant });
  } else if (withSilu) multiplySiluDerivative(w, { xHat, gamma: at.gamma, beta: at.beta, q, s, sigmoid });
  w.set(d);
  address(w, at.dn, i).get(d);
  store(w);
  accumulate(w, at.sumDn, q, () => w.get(d));
  accumulate(w, at.sumDnXHat, q, () => w.get(d).get(xHat).simd(SimdOp.f32x4Mul));
}

/**
 * `rows` rows, `perRow()` on each, then the `pointers` advanced by `rowBytes`; every `blockRows`
 * rows and at the end each float32 block of `drains` is added into its float64 sums and re-zeroed.
 */
function blockedRows(
  w: FunctionWriter,
  { rows, rowBytes, blockRows }: { rows: number; rowBytes: number; blockRows: number },
  pointers: readonly number[],
  drains: readonly { block: number; sums: number }[],
  perRow: () => void,
): void {
  const left = w.local(I32);
  const wide = w.local(I32);
  const v = w.local(V128);
  const drain = (): void => {
    for (const { block, sums } of drains) drainBlock(w, rowBytes, block, sums, v, wide);
  };
  w.get(blockRows).set(left);
  eachRow(w, rows, () => {
    perRow();
    for (const pointer of pointers) advance(w, pointer, rowBytes);
    w.get(left).i32(1).op(Scalar.i32Sub).tee(left).op(Op.i32Eqz);
    w.begin(Op.if);
    drain();
    w.get(blockRows).set(left);
    w.op(Op.end);
  });
  drain();
}

/**
 * `gradGatherImages`, `gradGatherSiluImages` and (`silu` 'output') `gradGatherSiluOutputImages`,
 * whose parameters 8–10 are y, a and b where the others have γ and β (and no third).
 */
function gradGatherImages(silu: false | 'recompute' | 'output'): FunctionSpec {
  const fromOutput = silu === 'output';
  const count = fromOutput ? 16 : 15;
  const w = new FunctionWriter(count);
  const [dy, x, dn, images, rows, rowBytes, xScale, xShift, gamma, beta] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  const [blockRows, blockDn, blockDnXHat, sumDn, sumDnXHat] = fromOutput ? [11, 12, 13, 14, 15] : [10, 11, 12, 13, 14];
  const output = fromOutput ? { y: 8, a: 9, b: 10 } : undefined;
  const { wide } = imageStrides(w, rows, rowBytes);
  const left = w.local(I32);
  const locals = gatherLocals(w);
  const at: GatherAt = { dy, x, dn, xScale, xShift, gamma, beta, sumDn: blockDn, sumDnXHat: blockDnXHat, ...(output ? { output } : {}) };
  const rowPointers = output ? [dy, x, dn, output.y] : [dy, x, dn];
  const channelPointers = output ? [xScale, xShift, output.a, output.b] : [xScale, xShift];
  eachImage(
    w,
    images,
    () => {
      w.get(rows).set(left);
      blockedRows(w, { rows: left, rowBytes, blockRows }, rowPointers, [{ block: blockDn, sums: sumDn }, { block: blockDnXHat, sums: sumDnXHat }], () =>
        eachQuad(w, rowBytes, (q) => gradGatherStep(w, at, locals, silu !== false, q, q)),
      );
    },
    [...channelPointers.map((pointer) => [pointer, rowBytes] as const), [sumDn, wide], [sumDnXHat, wide]],
  );
  const exportName = silu === 'output' ? 'gradGatherSiluOutputImages' : silu === 'recompute' ? 'gradGatherSiluImages' : 'gradGatherImages';
  return { params: Array(count).fill(I32), body: w, exportName };
}

function gradApplyImages(): FunctionSpec {
  const w = new FunctionWriter(9);
  const [dn, x, dx, images, rows, rowBytes, p, q, t] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  const { image } = imageStrides(w, rows, rowBytes);
  eachImage(
    w,
    images,
    () =>
      rowLoop(w, rows, rowBytes, (i, c) => {
        address(w, dx, i);
        load(w, dn, i);
        load(w, p, c).simd(SimdOp.f32x4Mul);
        load(w, x, i);
        load(w, q, c).simd(SimdOp.f32x4Mul).simd(SimdOp.f32x4Add);
        load(w, t, c).simd(SimdOp.f32x4Add);
        store(w);
      }),
    [[dn, image], [x, image], [dx, image], [p, rowBytes], [q, rowBytes], [t, rowBytes]],
  );
  return { params: Array(9).fill(I32), body: w, exportName: 'gradApplyImages' };
}

/**
 * Locals for the upsampling loops: the pixel's bytes p, an output row's bytes R = 2·width·p, and
 * R + p (the four pixels of a 2×2 block lie at 0, p, R and R + p from its first).
 */
function blockOffsets(w: FunctionWriter, width: number, pixelBytes: number): { row: number; diagonal: number } {
  const row = w.local(I32);
  const diagonal = w.local(I32);
  w.get(width).get(pixelBytes).op(Op.i32Mul).i32(1).op(Scalar.i32Shl).tee(row).get(pixelBytes).op(Op.i32Add).set(diagonal);
  return { row, diagonal };
}

/** Push base + q + offset (a local) for a load or store at offset 0. */
function blockAddress(w: FunctionWriter, base: number, q: number, offset: number | undefined): FunctionWriter {
  w.get(base).get(q).op(Op.i32Add);
  if (offset !== undefined) w.get(offset).op(Op.i32Add);
  return w;
}

/**
 * Nearest ×2 upsampling ('forward': each pixel of `small` written to its 2×2 block of `large`) or its
 * gradient ('gradient': each pixel of `small` the sum of its 2×2 block of `large`, in the order top
 * left, top right, bottom left, bottom right). Parameters: the input, the output, rows (batch ·
 * small height), width (small), pixelBytes.
 */
function upsampleFunction(direction: 'forward' | 'gradient'): FunctionSpec {
  const w = new FunctionWriter(5);
  const [input, output, rows, width, pixelBytes] = [0, 1, 2, 3, 4];
  const [small, large] = direction === 'forward' ? [input, output] : [output, input];
  const { row, diagonal } = blockOffsets(w, width, pixelBytes);
  const block = [undefined, pixelBytes, row, diagonal];
  const columns = w.local(I32);
  const v = w.local(V128);
  eachRow(w, rows, () => {
    w.get(width).set(columns);
    eachRow(w, columns, () => {
      eachQuad(w, pixelBytes, (q) => {
        if (direction === 'forward') {
          load(w, small, q).set(v);
          for (const offset of block) {
            blockAddress(w, large, q, offset).get(v);
            store(w);
          }
        } else {
          address(w, small, q);
          block.forEach((offset, k) => {
            blockAddress(w, large, q, offset).simdMemory(SimdOp.v128Load, 0, 16);
            if (k > 0) w.simd(SimdOp.f32x4Add);
          });
          store(w);
        }
      });
      advance(w, small, pixelBytes);
      advance(w, large, pixelBytes);
      advance(w, large, pixelBytes);
    });
    advance(w, large, row);
  });
  return { params: Array(5).fill(I32), body: w, exportName: direction === 'forward' ? 'upsampleNearest2x' : 'upsampleNearest2xGrad' };
}

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
          columnSumsImages(), columnSquaresImages(), affineImages(false), affineImages(true),
          gradGatherImages(false), gradGatherImages('recompute'), gradGatherImages('output'), gradApplyImages(),
          layerNormRows(false), layerNormRows(true), layerNormRowsGrad(false), layerNormRowsGrad(true),
          columnSumsBlocked(), upsampleFunction('forward'), upsampleFunction('gradient'), geluForward(), geluBackward(),
        ],
        1,
      ),
    );
    instance = new WebAssembly.Instance(compiled, { env: { memory } }).exports as unknown as NormSimd;
    instances.set(memory, instance);
  }
  return instance;
}
