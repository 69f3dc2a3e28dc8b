import * as tf from '@tensorflow/tfjs-core';
import { F32, FunctionWriter, I32, Op, SimdOp, V128, encodeModule, type FunctionSpec } from '@gq/codebook/internal';
import { backendMemory, type WasmBackendLike } from './wasm-ops.js';

/*
 * Adam with the per-variable update fused into one 128-bit SIMD WebAssembly call on the wasm heap.
 *
 * Why: tfjs-core's AdamOptimizer.applyGradients runs about ten kernels per variable (2 Mul + Add for
 * m, Square + 2 Mul + Add for v, 2 RealDiv for the bias corrections, Sqrt, Add, RealDiv, Mul, Add
 * for the weight, and three assigns), each with its own output allocation and engine bookkeeping.
 * The tiny32 UNet has 132 variables (648k weights), so a step pays 1852 tiny kernel calls (of 2741
 * in the whole step) for an update whose arithmetic is a few million flops, and every data-parallel
 * replica pays it again. Here each variable costs one call that reads the gradient and rewrites w,
 * m and v where they lie: measured at batch 8 on one thread (2-core machine, busy), applyGradients
 * 18.6 → 1.3 ms and the train step 237 → 214 ms (medians of 16 interleaved steps), 0 kernel calls.
 * In place also means no fresh buffers, so the XNNPACK operators cached by tensor id must be told
 * (`rekey`).
 *
 * Bit-exactness: the wasm backend's Mul, Add, RealDiv, Square and Sqrt are float32 operations,
 * each correctly rounded, and so are f32x4.mul/add/div/sqrt, so repeating tfjs-core 4.22's exact
 * sequence of operations with the same float32 constants reproduces tf.train.adam bit for bit:
 *   m' = m·β1 + g·(1 − β1)              (β1 and 1 − β1 computed in float64, each rounded to float32)
 *   v' = v·β2 + (g·g)·(1 − β2)
 *   w' = ((m'/(1 − β1ᵗ)) / (√(v'/(1 − β2ᵗ)) + ε))·(−lr) + w
 * with 1 − βᵗ = fround(1 − accβ) (a float32 Sub), ε the backend's epsilon and −lr as float32
 * scalars, then accβ ← fround(accβ·β). The tail of a variable whose length is not a multiple of 4
 * (and the scalar log-scale) runs in JS, where Math.fround of a double +, −, ·, / or √ of float32
 * operands is the correctly rounded float32 result (double has more than 2·24 + 2 bits).
 */

/** SIMD opcodes beyond the emitter's set (WebAssembly 2.0, after the 0xFD prefix). */
const Simd = { f32x4Splat: 0x13, f32x4Sqrt: 0xe3, f32x4Div: 0xe7 } as const;

/** The emitted update: byte offsets into the backend heap, `bytes` a multiple of 16. */
interface AdamSimd {
  adam(w: number, m: number, v: number, g: number, bytes: number, b1: number, c1: number, b2: number, c2: number, d1: number, d2: number, eps: number, nlr: number): void;
}

function adamFunction(): FunctionSpec {
  const params = [I32, I32, I32, I32, I32, F32, F32, F32, F32, F32, F32, F32, F32] as const;
  const w = new FunctionWriter(params.length);
  const [pw, pm, pv, pg, bytes] = [0, 1, 2, 3, 4];
  // The eight float32 constants, splatted once into v128 locals.
  const splats = Array.from({ length: 8 }, (_, k) => {
    const local = w.local(V128);
    w.get(5 + k).simd(Simd.f32x4Splat).set(local);
    return local;
  });
  const [b1, c1, b2, c2, d1, d2, eps, nlr] = splats as [number, number, number, number, number, number, number, number];
  const q = w.local(I32);
  const g = w.local(V128);
  const m = w.local(V128);
  const v = w.local(V128);
  const at = (base: number): FunctionWriter => w.get(base).get(q).op(Op.i32Add);
  const load = (base: number): FunctionWriter => at(base).simdMemory(SimdOp.v128Load, 0, 16);
  const store = (): FunctionWriter => w.simdMemory(SimdOp.v128Store, 0, 16);
  w.i32(0).set(q);
  w.begin(Op.block).begin(Op.loop);
  w.get(q).get(bytes).op(Op.i32GeU).branch(Op.brIf, 1);
  load(pg).set(g);
  // m' = m·β1 + g·(1 − β1)
  load(pm).get(b1).simd(SimdOp.f32x4Mul);
  w.get(g).get(c1).simd(SimdOp.f32x4Mul).simd(SimdOp.f32x4Add).set(m);
  at(pm).get(m);
  store();
  // v' = v·β2 + (g·g)·(1 − β2)
  load(pv).get(b2).simd(SimdOp.f32x4Mul);
  w.get(g).get(g).simd(SimdOp.f32x4Mul).get(c2).simd(SimdOp.f32x4Mul).simd(SimdOp.f32x4Add).set(v);
  at(pv).get(v);
  store();
  // w' = ((m'/d1) / (√(v'/d2) + ε))·(−lr) + w
  at(pw);
  w.get(m).get(d1).simd(Simd.f32x4Div);
  w.get(v).get(d2).simd(Simd.f32x4Div).simd(Simd.f32x4Sqrt).get(eps).simd(SimdOp.f32x4Add);
  w.simd(Simd.f32x4Div).get(nlr).simd(SimdOp.f32x4Mul);
  load(pw).simd(SimdOp.f32x4Add);
  store();
  w.get(q).i32(16).op(Op.i32Add).set(q);
  w.branch(Op.br, 0);
  w.op(Op.end).op(Op.end);
  return { params, body: w, exportName: 'adam' };
}

let compiled: WebAssembly.Module | undefined;
const instances = new WeakMap<WebAssembly.Memory, AdamSimd | null>();

/** The update instantiated over `memory`, or null where it cannot link (e.g. a shared memory). */
function adamSimdFor(memory: WebAssembly.Memory): AdamSimd | null {
  let instance = instances.get(memory);
  if (instance === undefined) {
    try {
      compiled ??= new WebAssembly.Module(encodeModule([adamFunction()], 1));
      instance = new WebAssembly.Instance(compiled, { env: { memory } }).exports as unknown as AdamSimd;
    } catch {
      instance = null;
    }
    instances.set(memory, instance);
  }
  return instance;
}

/** One entry of the wasm backend's data map, as far as this module reads it. */
interface WasmData {
  /** The C++ side's tensor id (what kernels pass to the wasm module). */
  id: number;
  readonly memoryOffset: number;
  readonly refCount: number;
  readonly dtype: tf.DataType;
}

/** The parts of tfjs-backend-wasm's BackendWasm read here (structural: no import of the backend package). */
interface WasmBackendInternals {
  readonly dataIdMap?: { get(dataId: tf.DataId): WasmData | undefined };
  dataIdNextNumber?: number;
  readonly wasm?: {
    readonly asm?: { readonly memory?: unknown };
    readonly HEAPU8?: Uint8Array;
    readonly tfjs?: {
      registerTensor?(id: number, size: number, memoryOffset: number): void;
      disposeData?(id: number): void;
    };
  };
}

/**
 * Give a buffer rewritten in place a fresh C++ tensor id (same memory). The wasm backend's C++
 * side caches XNNPACK operators with their weights packed at creation (Conv2D, depthwise,
 * matmul), keyed by the filter's tensor id and dropped when that id is disposed; tfjs never
 * rewrites a buffer, so without this a conv would keep using the packed pre-update filter.
 * Disposing the old id runs those disposal callbacks; the JS dataId and every tensor keep working.
 */
function rekey(backend: WasmBackendInternals, entry: WasmData, size: number): void {
  const tfjs = backend.wasm!.tfjs!;
  const id = backend.dataIdNextNumber!++;
  tfjs.disposeData!(entry.id);
  tfjs.registerTensor!(id, size, entry.memoryOffset);
  entry.id = id;
}

/** AdamOptimizer's private state, which this subclass reads and writes exactly as the base class does. */
interface AdamInternals {
  accBeta1: tf.Variable;
  accBeta2: tf.Variable;
  accumulatedFirstMoment: ({ variable: tf.Variable } | undefined)[];
  accumulatedSecondMoment: ({ variable: tf.Variable } | undefined)[];
}

/** What applyGradients takes (tfjs-core does not export its NamedTensor type). */
type VariableGradients = Parameters<tf.AdamOptimizer['applyGradients']>[0];

/** One variable's update: byte offsets of w, m, v, g and the element count. */
interface Job {
  readonly w: WasmData;
  readonly m: WasmData;
  readonly v: WasmData;
  readonly g: WasmData;
  readonly size: number;
}

/**
 * tf.AdamOptimizer (β1 = 0.9, β2 = 0.999, ε = the backend's epsilon, as tf.train.adam) whose
 * applyGradients updates each variable and its moments in place with one SIMD call on the wasm
 * backend. getWeights/setWeights, the accβ variables, serialisation and dispose are the base
 * class's own; any step the fast path cannot take (another backend, heap out of reach, moments not
 * created yet, a buffer shared with another tensor) goes through super.applyGradients unchanged.
 */
export class FusedAdamOptimizer extends tf.AdamOptimizer {
  /** Steps taken by the fused path (tests and benches). */
  fusedSteps = 0;

  constructor(
    learningRate: number,
    private readonly wasmBackend?: tf.KernelBackend,
  ) {
    super(learningRate, 0.9, 0.999);
  }

  override applyGradients(variableGradients: VariableGradients): void {
    if (!this.tryFused(variableGradients)) super.applyGradients(variableGradients);
  }

  /** The fused step, or false (having changed nothing) where it does not apply. */
  private tryFused(variableGradients: VariableGradients): boolean {
    const backend = (this.wasmBackend ?? tf.engine().backend) as unknown as WasmBackendInternals;
    const data = backend.dataIdMap;
    const memory = backendMemory(backend as unknown as WasmBackendLike);
    const tfjs = backend.wasm?.tfjs;
    if (data === undefined || memory === undefined || typeof backend.dataIdNextNumber !== 'number') return false;
    if (typeof tfjs?.registerTensor !== 'function' || typeof tfjs.disposeData !== 'function') return false;
    const simd = adamSimdFor(memory);
    if (simd === null) return false;
    const self = this as unknown as AdamInternals;
    const owned = (t: tf.Tensor): WasmData | undefined => {
      const entry = data.get(t.dataId);
      return entry !== undefined && entry.refCount === 1 && entry.dtype === 'float32' && t.dtype === 'float32' ? entry : undefined;
    };
    const acc1 = owned(self.accBeta1);
    const acc2 = owned(self.accBeta2);
    if (acc1 === undefined || acc2 === undefined) return false;
    const list = Array.isArray(variableGradients)
      ? variableGradients.map((entry) => [entry.name, entry.tensor] as const)
      : Object.keys(variableGradients).map((name) => [name, variableGradients[name]] as const);
    const registered = tf.engine().registeredVariables;
    const jobs: Job[] = [];
    for (let i = 0; i < list.length; i++) {
      const [name, gradient] = list[i]!;
      const value = registered[name];
      const first = self.accumulatedFirstMoment[i]?.variable;
      const second = self.accumulatedSecondMoment[i]?.variable;
      // tfjs creates the moments lazily inside its own step: let that step create them.
      if (value === undefined || first === undefined || second === undefined) return false;
      if (gradient == null) continue;
      const w = owned(value);
      const m = owned(first);
      const v = owned(second);
      const g = data.get(gradient.dataId);
      const size = value.size;
      if (w === undefined || m === undefined || v === undefined || g === undefined || g.dtype !== 'float32' || gradient.dtype !== 'float32') return false;
      if (first.size !== size || second.size !== size || gradient.size !== size) return false;
      jobs.push({ w, m, v, g, size });
    }
    // Nothing allocates from here on, so one heap view serves the whole step.
    const heap = new Float32Array(memory.buffer);
    const f = Math.fround;
    const beta1 = f(this.beta1);
    const beta2 = f(this.beta2);
    const c1 = f(1 - this.beta1);
    const c2 = f(1 - this.beta2);
    const accBeta1 = heap[acc1.memoryOffset / 4]!;
    const accBeta2 = heap[acc2.memoryOffset / 4]!;
    const d1 = f(1 - accBeta1);
    const d2 = f(1 - accBeta2);
    const eps = f(this.epsilon);
    const nlr = f(-this.learningRate);
    for (const job of jobs) {
      const { size } = job;
      const [w, m, v, g] = [job.w.memoryOffset, job.m.memoryOffset, job.v.memoryOffset, job.g.memoryOffset];
      const body = size & ~3;
      simd.adam(w, m, v, g, 4 * body, beta1, c1, beta2, c2, d1, d2, eps, nlr);
      for (let k = body; k < size; k++) {
        const gk = heap[g / 4 + k]!;
        const mk = f(f(heap[m / 4 + k]! * beta1) + f(gk * c1));
        const vk = f(f(heap[v / 4 + k]! * beta2) + f(f(gk * gk) * c2));
        heap[m / 4 + k] = mk;
        heap[v / 4 + k] = vk;
        const step = f(f(f(mk / d1) / f(f(Math.sqrt(f(vk / d2))) + eps)) * nlr);
        heap[w / 4 + k] = f(step + heap[w / 4 + k]!);
      }
    }
    heap[acc1.memoryOffset / 4] = f(accBeta1 * beta1);
    heap[acc2.memoryOffset / 4] = f(accBeta2 * beta2);
    for (const job of jobs) for (const entry of [job.w, job.m, job.v]) rekey(backend, entry, job.size);
    rekey(backend, acc1, 1);
    rekey(backend, acc2, 1);
    this.incrementIterations();
    this.fusedSteps++;
    return true;
  }
}

/**
 * tf.train.adam(learningRate) with the fused wasm update (`FusedAdamOptimizer`); bit-identical
 * to it on every backend. `backend` pins the wasm backend whose heap holds the variables (default:
 * the engine's current backend at each step).
 */
export function createAdam(learningRate: number, backend?: tf.KernelBackend): FusedAdamOptimizer {
  return new FusedAdamOptimizer(learningRate, backend);
}
