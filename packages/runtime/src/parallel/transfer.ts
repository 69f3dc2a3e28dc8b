import type { Transferable } from 'node:worker_threads';

const brand = Symbol.for('@gq/runtime/transfer');

/** A worker handler's result together with the buffers to move (not copy) to the calling thread. */
export interface Transferred<T> {
  readonly [brand]: true;
  readonly value: T;
  readonly transfer: readonly Transferable[];
}

/**
 * Return `value` from a worker handler and move `transfer` (e.g. a Float32Array's buffer) to the
 * calling thread instead of copying it. The buffers are unusable in the worker afterwards.
 */
export function withTransfer<T>(value: T, transfer: readonly Transferable[]): Transferred<T> {
  return { [brand]: true, value, transfer };
}

/** True for a `withTransfer` result (also from another copy of this module, e.g. source and dist). */
export function isTransferred(value: unknown): value is Transferred<unknown> {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[brand] === true;
}
