import type * as V8 from 'node:v8';
import { encodeModule, F32, FunctionWriter, SimdOp } from '@gq/codebook/internal';
import { importNodeOnly, isNode } from '../node-only.js';

/*
 * WebAssembly relaxed SIMD's f32x4.relaxed_madd (a·b + c on four lanes): one fused multiply–add
 * instruction, rounded once, on CPUs with FMA (every x64 core since 2013, every arm64 core); an
 * f32x4.mul then f32x4.add elsewhere. The matrix products use it where the engine validates it
 * (`batched-gemm-simd.ts`). Node 22 and current browsers ship relaxed SIMD; Node 20 has it behind
 * V8's --experimental-wasm-relaxed-simd, which `enableRelaxedSimd` sets at run time (V8's flags
 * are per process, so it also covers worker threads started later).
 */

/** The opcode of f32x4.relaxed_madd after the 0xFD prefix. */
export const f32x4RelaxedMadd = 0x105;

const drop = 0x1a;
const f32x4Splat = 0x13;

/** A module with one function that computes relaxed_madd(0, 0, 0) and drops it. */
function probeModule(): Uint8Array<ArrayBuffer> {
  const w = new FunctionWriter(0);
  w.v128Zero().v128Zero().v128Zero().simd(f32x4RelaxedMadd).op(drop);
  return encodeModule([{ params: [], body: w }], 1);
}

/** Whether the probe validated once: it then stays available (a flag is never turned off again), so later asks cost nothing. */
let validated = false;

/** Whether this engine compiles f32x4.relaxed_madd now (asked on every matrix-product call). */
export function relaxedSimdAvailable(): boolean {
  validated ||= WebAssembly.validate(probeModule());
  return validated;
}

/**
 * Make f32x4.relaxed_madd available where it can be: already there (Node 22, browsers with relaxed
 * SIMD), or in Node 20 by setting V8's --experimental-wasm-relaxed-simd. Whether it is available
 * afterwards.
 */
export async function enableRelaxedSimd(): Promise<boolean> {
  if (relaxedSimdAvailable()) return true;
  if (!isNode()) return false;
  try {
    const v8 = (await importNodeOnly('node:v8')) as typeof V8;
    v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
  } catch {
    return false;
  }
  return relaxedSimdAvailable();
}

let fuses: boolean | undefined;

/**
 * Whether f32x4.relaxed_madd rounds once on this engine and CPU (an FMA instruction): (1 + 2⁻²³) ·
 * (1 − 2⁻²³) − 1 is −2⁻⁴⁶ fused and 0 when the product is rounded first. False where relaxed SIMD
 * is unavailable.
 */
export function relaxedMaddFuses(): boolean {
  if (fuses !== undefined) return fuses;
  if (!relaxedSimdAvailable()) return false;
  // f(a, b, c) stores relaxed_madd(splat a, splat b, splat c) at address 0.
  const w = new FunctionWriter(3);
  w.i32(0);
  for (const param of [0, 1, 2]) w.get(param).simd(f32x4Splat);
  w.simd(f32x4RelaxedMadd).simdMemory(SimdOp.v128Store, 0, 16);
  const memory = new WebAssembly.Memory({ initial: 1 });
  const module = new WebAssembly.Module(encodeModule([{ params: [F32, F32, F32], body: w, exportName: 'f' }], 1));
  const { f } = new WebAssembly.Instance(module, { env: { memory } }).exports as { f(a: number, b: number, c: number): void };
  f(Math.fround(1 + 2 ** -23), Math.fround(1 - 2 ** -23), -1);
  fuses = new Float32Array(memory.buffer)[0] === -(2 ** -46);
  return fuses;
}
