import type { TensorInfo } from '@tensorflow/tfjs-core';
import type { NormKernelAttrs } from '@gq/nn/internal';
import { normSimdFor, type NormSimd } from './norm-simd.js';
import { backendMemory, type WasmBackendLike } from './wasm-ops.js';

/*
 * The fused normalisation kernels (`GqNorm`, `GqNormGrad` of @gq/nn): group statistics, affine map
 * and SiLU in a few passes over the wasm heap instead of a dozen tfjs kernels, each with its own
 * full-size output (and a transpose for every reduction over a non-innermost axis). Statistics
 * and parameter gradients are summed in float64 (blocks of at most `blockRows` rows in float32 on
 * the SIMD path), so they are at least as accurate as the float32 composite they replace.
 *
 * Each `outer` slice is [inner, C] row-major. The passes run as 128-bit SIMD WebAssembly
 * (`norm-simd.ts`) when C is a multiple of 4, the slices have several rows and the backend's
 * memory is reachable; otherwise as plain loops over the same heap.
 *
 * LayerNorm's slices are single rows ([N, 1, C], one group): there a JS loop per slice would pay
 * a call and a handful of float64 vectors for every C values, so with C a multiple of 4 the whole
 * tensor goes through one SIMD call each way (`layerNormRows*`), with the row statistics summed in
 * float64 in the wasm and x̂ = (x − μ)·r formed in float32 as the composite forms it.
 */

type Float32View = Float32Array;

function view(backend: WasmBackendLike, info: TensorInfo): Float32View {
  return backend.typedArrayFromHeap(info) as Float32View;
}

/** Rows per float32 accumulation block on the SIMD path before the sums move to float64. */
const blockRows = 64;

/** Fewest rows per slice for the per-slice SIMD path (one-row LayerNorm slices go to `simdFor` instead, or plain loops for odd C). */
const simdMinRows = 8;

/** 2^k for integer k in [−128, 127], at index k + 128. */
const powersOfTwo = Float64Array.from({ length: 256 }, (_, i) => 2 ** (i - 128));

/**
 * e^v for v clamped to [−80, 80] (σ and SiLU are flat far beyond that in float32): v·log2(e) =
 * k + f with k an integer and |f| ≤ 1/2, 2^k from a table and e^{f·ln 2} from its degree-7 Taylor
 * polynomial (relative error ≤ 1e-8, far below float32's 6e-8). About twice as fast as Math.exp.
 */
function exp(v: number): number {
  const t = (v < -80 ? -80 : v > 80 ? 80 : v) * Math.LOG2E;
  const k = Math.round(t);
  const x = (t - k) * Math.LN2;
  const p = 1 + x * (1 + x * (0.5 + x * (1 / 6 + x * (1 / 24 + x * (1 / 120 + x * (1 / 720 + x / 5040))))));
  return p * powersOfTwo[k + 128]!;
}

/** SiLU n·σ(n). */
function silu(n: number): number {
  return n / (1 + exp(-n));
}

/** d silu(n)/dn = σ(n)·(1 + n·(1 − σ(n))). */
function siluDerivative(n: number): number {
  const sigma = 1 / (1 + exp(-n));
  return sigma * (1 + n * (1 - sigma));
}

/**
 * The passes over `images` consecutive [rows, C] slices. Positions are float32 element indices into
 * the heap; per-image per-channel vectors are float64 [images·C] (C entries per image), γ and β
 * float64 [C]; sums are added into the caller's vectors.
 */
interface SliceLoops {
  columnSums(x: number, images: number, rows: number, into: Float64Array): void;
  columnSquares(x: number, images: number, rows: number, mean: Float64Array, into: Float64Array): void;
  affine(x: number, y: number, images: number, rows: number, a: Float64Array, b: Float64Array, useSilu: boolean): void;
  /**
   * dn = dy·act′(x̂·γ + β) with x̂ = x·xScale + xShift, stored at `dn`; sumDn += dn, sumDnXHat += dn·x̂.
   * With `output` (the forward's y and its affine coefficients a, b), SiLU's σ may be taken from
   * y = n·σ(n) instead of recomputed.
   */
  gradGather(
    dy: number, x: number, dn: number, images: number, rows: number,
    coefficients: { xScale: Float64Array; xShift: Float64Array; gamma: Float64Array; beta: Float64Array },
    useSilu: boolean, sumDn: Float64Array, sumDnXHat: Float64Array,
    output?: { y: number; a: Float64Array; b: Float64Array },
  ): void;
  /** dx = dn·p + x·q + t (dx may be dn). */
  gradApply(dn: number, x: number, dx: number, images: number, rows: number, p: Float64Array, q: Float64Array, t: Float64Array): void;
  /** Free scratch memory. */
  release(): void;
}

function plainLoops(heap: Float32View, channels: number): SliceLoops {
  /** body(element offset of the row, offset of its image's coefficients) for every row of every image. */
  const each = (images: number, rows: number, body: (offset: number, k: number) => void): void => {
    for (let i = 0, offset = 0; i < images; i++) for (let r = 0; r < rows; r++, offset += channels) body(offset, i * channels);
  };
  return {
    columnSums(x, images, rows, into) {
      each(images, rows, (o, k) => {
        for (let c = 0; c < channels; c++) into[k + c] += heap[x + o + c]!;
      });
    },
    columnSquares(x, images, rows, mean, into) {
      each(images, rows, (o, k) => {
        for (let c = 0; c < channels; c++) {
          const d = heap[x + o + c]! - mean[k + c]!;
          into[k + c] += d * d;
        }
      });
    },
    affine(x, y, images, rows, a, b, useSilu) {
      each(images, rows, (o, k) => {
        for (let c = 0; c < channels; c++) {
          const n = heap[x + o + c]! * a[k + c]! + b[k + c]!;
          heap[y + o + c] = useSilu ? silu(n) : n;
        }
      });
    },
    gradGather(dy, x, dn, images, rows, { xScale, xShift, gamma, beta }, useSilu, sumDn, sumDnXHat) {
      each(images, rows, (o, k) => {
        for (let c = 0; c < channels; c++) {
          const xHat = heap[x + o + c]! * xScale[k + c]! + xShift[k + c]!;
          const d = useSilu ? heap[dy + o + c]! * siluDerivative(xHat * gamma[c]! + beta[c]!) : heap[dy + o + c]!;
          heap[dn + o + c] = d;
          sumDn[k + c] += d;
          sumDnXHat[k + c] += d * xHat;
        }
      });
    },
    gradApply(dn, x, dx, images, rows, p, q, t) {
      each(images, rows, (o, k) => {
        for (let c = 0; c < channels; c++) heap[dx + o + c] = heap[dn + o + c]! * p[k + c]! + heap[x + o + c]! * q[k + c]! + t[k + c]!;
      });
    },
    release() {},
  };
}

/**
 * The SIMD loops: one call per pass over all images, the float32 column sums drained into float64
 * every `blockRows` rows of an image inside the wasm. The scratch buffer holds five per-image
 * coefficient vectors [images·C], γ and β [C], two float32 blocks [C] and, 8-byte aligned, two
 * float64 sums [images·C].
 */
function simdLoops(backend: WasmBackendLike, memory: WebAssembly.Memory, channels: number, images: number): SliceLoops {
  const simd = normSimdFor(memory);
  const vector = images * channels;
  const scratch = backend.makeOutput([5 * vector + 4 * channels + 4 * vector + 2], 'float32');
  const base = backend.typedArrayFromHeap(scratch).byteOffset;
  const rowBytes = 4 * channels;
  /** Byte address of coefficient slot k (0–4: [images·C]; 5, 6: γ, β [C]; 7, 8: the blocks [C]). */
  const slot = (k: number): number => base + 4 * (k <= 5 ? k * vector : 5 * vector + (k - 5) * channels);
  const blocks = [slot(7), slot(8)] as const;
  const sums = [(slot(9) + 7) & ~7, ((slot(9) + 7) & ~7) + 8 * vector] as const;
  // Views of the heap, re-taken only when a caller's makeOutput has grown (and so replaced) its buffer.
  let floats = new Float32Array(memory.buffer);
  let doubles = new Float64Array(memory.buffer);
  const heap = (): { floats: Float32View; doubles: Float64Array } => {
    if (floats.buffer !== memory.buffer) {
      floats = new Float32Array(memory.buffer);
      doubles = new Float64Array(memory.buffer);
    }
    return { floats, doubles };
  };
  const put = (k: number, values: Float64Array): number => {
    heap().floats.set(values, slot(k) / 4);
    return slot(k);
  };
  /** Zero the float32 blocks and float64 sums the next blocked call accumulates in. */
  const zeroSums = (count: 1 | 2): void => {
    const h = heap();
    h.floats.fill(0, blocks[0] / 4, blocks[0] / 4 + count * channels);
    h.doubles.fill(0, sums[0] / 8, sums[0] / 8 + count * vector);
  };
  /** into[k] += the float64 sums[which][k]. */
  const addSums = (which: 0 | 1, into: Float64Array): void => {
    const { doubles: d } = heap();
    const at = sums[which] / 8;
    for (let k = 0; k < vector; k++) into[k] += d[at + k]!;
  };
  return {
    columnSums(x, n, rows, into) {
      zeroSums(1);
      simd.columnSumsImages(4 * x, n, rows, rowBytes, blockRows, blocks[0], sums[0]);
      addSums(0, into);
    },
    columnSquares(x, n, rows, mean, into) {
      const meanAt = put(1, mean);
      zeroSums(1);
      simd.columnSquaresImages(4 * x, n, rows, rowBytes, meanAt, blockRows, blocks[0], sums[0]);
      addSums(0, into);
    },
    affine(x, y, n, rows, a, b, useSilu) {
      (useSilu ? simd.affineSiluImages : simd.affineImages)(4 * x, 4 * y, n, rows, rowBytes, put(0, a), put(1, b));
    },
    gradGather(dy, x, dn, n, rows, { xScale, xShift, gamma, beta }, useSilu, sumDn, sumDnXHat, output) {
      const [scaleAt, shiftAt] = [put(2, xScale), put(3, xShift)];
      zeroSums(2);
      const tail = [blockRows, blocks[0], blocks[1], sums[0], sums[1]] as const;
      if (useSilu && output !== undefined) {
        simd.gradGatherSiluOutputImages(4 * dy, 4 * x, 4 * dn, n, rows, rowBytes, scaleAt, shiftAt, 4 * output.y, put(0, output.a), put(1, output.b), ...tail);
      } else {
        (useSilu ? simd.gradGatherSiluImages : simd.gradGatherImages)(4 * dy, 4 * x, 4 * dn, n, rows, rowBytes, scaleAt, shiftAt, put(5, gamma), put(6, beta), ...tail);
      }
      addSums(0, sumDn);
      addSums(1, sumDnXHat);
    },
    gradApply(dn, x, dx, n, rows, p, q, t) {
      simd.gradApplyImages(4 * dn, 4 * x, 4 * dx, n, rows, rowBytes, put(0, p), put(1, q), put(4, t));
    },
    release() {
      backend.disposeData(scratch.dataId);
    },
  };
}

/** Whether the one-row-slice (LayerNorm) path fits the shape: one row per slice, one group, C a positive multiple of 4. */
function rowsShape(inner: number, groups: number, channels: number): boolean {
  return inner === 1 && groups === 1 && channels > 0 && channels % 4 === 0;
}

/**
 * The SIMD functions bound to the backend's heap (the one-row-slice path, whose shape `rowsShape`
 * checks, and the upsampling), or undefined where the heap is out of reach; `heap`, a view taken
 * after the kernel's last allocation, proves the memory found is the heap the tensors live in.
 */
function simdFor(backend: WasmBackendLike, heap: Float32View): NormSimd | undefined {
  const memory = backendMemory(backend);
  return memory !== undefined && memory.buffer === heap.buffer ? normSimdFor(memory) : undefined;
}

/** SIMD loops where they apply, else plain ones. Call after every makeOutput of the kernel. */
function sliceLoops(backend: WasmBackendLike, heap: Float32View, channels: number, rows: number, images: number): SliceLoops {
  const memory = backendMemory(backend);
  if (memory !== undefined && memory.buffer === heap.buffer && channels % 4 === 0 && rows >= simdMinRows) return simdLoops(backend, memory, channels, images);
  return plainLoops(heap, channels);
}

function dims(x: TensorInfo, groups: number): { outer: number; inner: number; channels: number; perGroup: number } {
  const [outer, inner, channels] = x.shape as [number, number, number];
  return { outer, inner, channels, perGroup: channels / groups };
}

/** Element index of a tensor's first value in the heap view it shares with every other tensor. */
function offsetOf(backend: WasmBackendLike, info: TensorInfo): number {
  return backend.typedArrayFromHeap(info).byteOffset / 4;
}

/** Sum each group's entries of `perChannel` and write value(groupSum) to every channel of the group. */
function spreadGroups(perChannel: Float64Array, groups: number, target: Float64Array, value: (groupSum: number) => number): void {
  const per = perChannel.length / groups;
  for (let g = 0; g < groups; g++) {
    let s = 0;
    for (let c = g * per; c < (g + 1) * per; c++) s += perChannel[c]!;
    const v = value(s);
    for (let c = g * per; c < (g + 1) * per; c++) target[c] = v;
  }
}

/**
 * The forward's per-image, per-channel affine map y = act(x·a[k] + b[k]) (k = image·C + c): a = r·γ,
 * b = β − μ·a, in float64 from the (float32) group statistics; the gradient recomputes the forward's
 * n = x·a + b from the same values, bit for bit.
 */
function affineCoefficients(
  mean: (k: number) => number, rstd: (k: number) => number, gamma: Float64Array, beta: Float64Array, a: Float64Array, b: Float64Array,
): void {
  const channels = gamma.length;
  for (let k = 0; k < a.length; k++) {
    a[k] = rstd(k) * gamma[k % channels]!;
    b[k] = beta[k % channels]! - mean(k) * a[k]!;
  }
}

/**
 * Forward: y = act(γ·(x − μ_g)·r_g + β) with μ_g and r_g = 1/√(var_g + eps) per (outer, group),
 * i.e. y = act(x·a[c] + b[c]) with a = r·γ and b = β − μ·r·γ per channel. Two passes for the
 * statistics (mean, then squared deviations): no cancellation whatever the offset.
 * @returns [y, mean, rstd]
 */
export function normForward(backend: WasmBackendLike, x: TensorInfo, gamma: TensorInfo, beta: TensorInfo, attrs: NormKernelAttrs): TensorInfo[] {
  const { groups, eps, activation } = attrs;
  const { outer, inner, channels, perGroup } = dims(x, groups);
  const y = backend.makeOutput([...x.shape], 'float32');
  const meanOut = backend.makeOutput([outer, groups], 'float32');
  const rstdOut = backend.makeOutput([outer, groups], 'float32');
  const heapView = backend.typedArrayFromHeap(y) as Float32View;
  const rows = rowsShape(inner, groups, channels) ? simdFor(backend, heapView) : undefined;
  if (rows !== undefined) {
    const byteOffset = (info: TensorInfo): number => backend.typedArrayFromHeap(info).byteOffset;
    (activation === 'silu' ? rows.layerNormRowsSilu : rows.layerNormRows)(
      byteOffset(x), byteOffset(y), outer, 4 * channels, byteOffset(gamma), byteOffset(beta), byteOffset(meanOut), byteOffset(rstdOut), eps,
    );
    return [y, meanOut, rstdOut];
  }
  const loops = sliceLoops(backend, new Float32Array(heapView.buffer), channels, inner, outer);
  // Views are taken after every allocation: one may grow (and detach) the wasm heap.
  const xBase = offsetOf(backend, x);
  const yBase = offsetOf(backend, y);
  const scale = Float64Array.from(backend.typedArrayFromHeap(gamma) as Float32View);
  const shift = Float64Array.from(backend.typedArrayFromHeap(beta) as Float32View);
  const means = backend.typedArrayFromHeap(meanOut) as Float32View;
  const rstds = backend.typedArrayFromHeap(rstdOut) as Float32View;
  const count = inner * perGroup;
  // Per image and channel ([outer·C]); the outer·groups groups are runs of perGroup channels.
  const vector = outer * channels;
  const sums = new Float64Array(vector);
  const mean = new Float64Array(vector);
  const rstd = new Float64Array(vector);
  const a = new Float64Array(vector);
  const b = new Float64Array(vector);
  try {
    loops.columnSums(xBase, outer, inner, sums);
    spreadGroups(sums, outer * groups, mean, (s) => Math.fround(s / count));
    sums.fill(0);
    loops.columnSquares(xBase, outer, inner, mean, sums);
    spreadGroups(sums, outer * groups, rstd, (s) => Math.fround(1 / Math.sqrt(s / count + eps)));
    for (let g = 0; g < outer * groups; g++) {
      means[g] = mean[g * perGroup]!;
      rstds[g] = rstd[g * perGroup]!;
    }
    affineCoefficients((k) => mean[k]!, (k) => rstd[k]!, scale, shift, a, b);
    loops.affine(xBase, yBase, outer, inner, a, b, activation === 'silu');
  } finally {
    loops.release();
  }
  return [y, meanOut, rstdOut];
}

/**
 * Gradient: with x̂ = (x − μ)·r, n = γ·x̂ + β and dn = dy·act′(n), dβ = Σ dn, dγ = Σ dn·x̂ over
 * outer and inner, and per (outer, group), with u = dn·γ, dx = r·(u − mean(u) − x̂·mean(u·x̂)).
 * The group means of u and u·x̂ are γ-weighted sums of the per-channel sums of dn and dn·x̂ that
 * dβ and dγ need anyway, so one pass gathers everything (dx's buffer keeps dn) and a second
 * writes dx = dn·p[c] + x·q[c] + t[c].
 * @returns [dx, dgamma, dbeta]
 */
export function normBackward(
  backend: WasmBackendLike,
  inputs: { dy: TensorInfo; x: TensorInfo; gamma: TensorInfo; beta: TensorInfo; mean: TensorInfo; rstd: TensorInfo; y?: TensorInfo },
  attrs: NormKernelAttrs,
): TensorInfo[] {
  const { groups, activation } = attrs;
  const { outer, inner, channels, perGroup } = dims(inputs.x, groups);
  const dx = backend.makeOutput([...inputs.x.shape], 'float32');
  const dGammaOut = backend.makeOutput([channels], 'float32');
  const dBetaOut = backend.makeOutput([channels], 'float32');
  if (rowsShape(inner, groups, channels)) {
    const rows = rowsBackward(backend, inputs, dx, activation === 'silu');
    if (rows !== undefined) {
      (backend.typedArrayFromHeap(dGammaOut) as Float32View).set(rows.dGamma);
      (backend.typedArrayFromHeap(dBetaOut) as Float32View).set(rows.dBeta);
      return [dx, dGammaOut, dBetaOut];
    }
  }
  const heapView = backend.typedArrayFromHeap(dx) as Float32View;
  const loops = sliceLoops(backend, new Float32Array(heapView.buffer), channels, inner, outer);
  const dyBase = offsetOf(backend, inputs.dy);
  const xBase = offsetOf(backend, inputs.x);
  const dxBase = offsetOf(backend, dx);
  const gamma = Float64Array.from(backend.typedArrayFromHeap(inputs.gamma) as Float32View);
  const beta = Float64Array.from(backend.typedArrayFromHeap(inputs.beta) as Float32View);
  const means = backend.typedArrayFromHeap(inputs.mean) as Float32View;
  const rstds = backend.typedArrayFromHeap(inputs.rstd) as Float32View;
  const dGamma = new Float64Array(channels);
  const dBeta = new Float64Array(channels);
  // Per image and channel ([outer·C]); entry k belongs to group ⌊k / perGroup⌋ of all outer·groups.
  const vector = outer * channels;
  const sumDn = new Float64Array(vector);
  const sumDnXHat = new Float64Array(vector);
  const xScale = new Float64Array(vector);
  const xShift = new Float64Array(vector);
  const p = new Float64Array(vector);
  const q = new Float64Array(vector);
  const t = new Float64Array(vector);
  const count = inner * perGroup;
  const group = (k: number): number => Math.floor(k / perGroup);
  for (let k = 0; k < vector; k++) {
    xScale[k] = rstds[group(k)]!;
    xShift[k] = -means[group(k)]! * rstds[group(k)]!;
  }
  // With SiLU and the forward's output, σ comes from y = n·σ(n) (n from the forward's a, b) instead of e^−n.
  let output: { y: number; a: Float64Array; b: Float64Array } | undefined;
  if (activation === 'silu' && inputs.y !== undefined) {
    output = { y: offsetOf(backend, inputs.y), a: new Float64Array(vector), b: new Float64Array(vector) };
    affineCoefficients((k) => means[group(k)]!, (k) => rstds[group(k)]!, gamma, beta, output.a, output.b);
  }
  try {
    loops.gradGather(dyBase, xBase, dxBase, outer, inner, { xScale, xShift, gamma, beta }, activation === 'silu', sumDn, sumDnXHat, output);
    for (let g = 0; g < outer * groups; g++) {
      let meanU = 0;
      let meanUXHat = 0;
      for (let k = g * perGroup; k < (g + 1) * perGroup; k++) {
        meanU += sumDn[k]! * gamma[k % channels]!;
        meanUXHat += sumDnXHat[k]! * gamma[k % channels]!;
      }
      meanU /= count;
      meanUXHat /= count;
      const r = rstds[g]!;
      const m = means[g]!;
      for (let k = g * perGroup; k < (g + 1) * perGroup; k++) {
        // dx = r·(γ·dn − meanU − (x − μ)·r·meanUXHat)
        p[k] = r * gamma[k % channels]!;
        q[k] = -r * r * meanUXHat;
        t[k] = -r * meanU + m * r * r * meanUXHat;
      }
    }
    for (let k = 0; k < vector; k++) {
      dBeta[k % channels] += sumDn[k]!;
      dGamma[k % channels] += sumDnXHat[k]!;
    }
    loops.gradApply(dxBase, xBase, dxBase, outer, inner, p, q, t);
  } finally {
    loops.release();
  }
  (backend.typedArrayFromHeap(dGammaOut) as Float32View).set(dGamma);
  (backend.typedArrayFromHeap(dBetaOut) as Float32View).set(dBeta);
  return [dx, dGammaOut, dBetaOut];
}

/**
 * `normBackward` for one-row slices with one group (`rowsShape`) in a single SIMD call, or
 * undefined where the heap is out of reach. Float32 column blocks [C] and float64 sums [C] for
 * dγ and dβ live in a scratch buffer of the backend heap; the float64 half starts 8-byte aligned
 * so that JS can read it as a Float64Array.
 */
function rowsBackward(
  backend: WasmBackendLike,
  { dy, x, gamma, beta, mean, rstd }: { dy: TensorInfo; x: TensorInfo; gamma: TensorInfo; beta: TensorInfo; mean: TensorInfo; rstd: TensorInfo },
  dx: TensorInfo,
  useSilu: boolean,
): { dGamma: Float64Array; dBeta: Float64Array } | undefined {
  const [rowCount, , channels] = x.shape as [number, number, number];
  // 2C float32 block sums, up to 1 float of padding, 2C float64 sums (4C floats).
  const scratch = backend.makeOutput([6 * channels + 1], 'float32');
  try {
    const scratchView = backend.typedArrayFromHeap(scratch) as Float32View;
    const simd = simdFor(backend, scratchView);
    if (simd === undefined) return undefined;
    const byteOffset = (info: TensorInfo): number => backend.typedArrayFromHeap(info).byteOffset;
    const blocks = scratchView.byteOffset;
    const sums = (blocks + 8 * channels + 7) & ~7;
    const sumView = new Float64Array(scratchView.buffer, sums, 2 * channels);
    new Float32Array(scratchView.buffer, blocks, 2 * channels).fill(0);
    sumView.fill(0);
    (useSilu ? simd.layerNormRowsGradSilu : simd.layerNormRowsGrad)(
      byteOffset(dy), byteOffset(x), byteOffset(dx), rowCount, 4 * channels, byteOffset(gamma), byteOffset(beta), byteOffset(mean), byteOffset(rstd),
      blockRows, blocks, blocks + 4 * channels, sums, sums + 8 * channels,
    );
    return { dBeta: sumView.slice(0, channels), dGamma: sumView.slice(channels) };
  } finally {
    backend.disposeData(scratch.dataId);
  }
}

/** Nearest ×2 upsampling of [B, H, W, C] to [B, 2H, 2W, C]: each input row written to two output rows, each pixel twice. */
export function upsampleNearest2x(backend: WasmBackendLike, x: TensorInfo): TensorInfo {
  const [batch, height, width, channels] = x.shape as [number, number, number, number];
  const out = backend.makeOutput([batch, 2 * height, 2 * width, channels], 'float32');
  const xs = view(backend, x);
  const ys = view(backend, out);
  const simd = channels % 4 === 0 ? simdFor(backend, ys) : undefined;
  if (simd !== undefined) {
    simd.upsampleNearest2x(xs.byteOffset, ys.byteOffset, batch * height, width, 4 * channels);
    return out;
  }
  const outRow = 2 * width * channels;
  for (let b = 0; b < batch; b++) {
    for (let y = 0; y < height; y++) {
      const from = (b * height + y) * width * channels;
      const to = (b * 2 * height + 2 * y) * outRow;
      for (let i = 0; i < width; i++) {
        for (let c = 0; c < channels; c++) {
          const v = xs[from + i * channels + c]!;
          ys[to + 2 * i * channels + c] = v;
          ys[to + (2 * i + 1) * channels + c] = v;
        }
      }
      ys.copyWithin(to + outRow, to, to + outRow);
    }
  }
  return out;
}

/** Gradient of `upsampleNearest2x`: each output pixel is the sum of its 2×2 block of dy. */
export function upsampleNearest2xGrad(backend: WasmBackendLike, dy: TensorInfo): TensorInfo {
  const [batch, outHeight, outWidth, channels] = dy.shape as [number, number, number, number];
  const height = outHeight / 2;
  const width = outWidth / 2;
  const out = backend.makeOutput([batch, height, width, channels], 'float32');
  const dys = view(backend, dy);
  const dxs = view(backend, out);
  const simd = channels % 4 === 0 ? simdFor(backend, dxs) : undefined;
  if (simd !== undefined) {
    simd.upsampleNearest2xGrad(dys.byteOffset, dxs.byteOffset, batch * height, width, 4 * channels);
    return out;
  }
  const inRow = outWidth * channels;
  for (let b = 0; b < batch; b++) {
    for (let y = 0; y < height; y++) {
      const top = (b * outHeight + 2 * y) * inRow;
      const bottom = top + inRow;
      const to = (b * height + y) * width * channels;
      for (let i = 0; i < width; i++) {
        const left = 2 * i * channels;
        const right = left + channels;
        for (let c = 0; c < channels; c++) {
          dxs[to + i * channels + c] = dys[top + left + c]! + dys[top + right + c]! + dys[bottom + left + c]! + dys[bottom + right + c]!;
        }
      }
    }
  }
  return out;
}
