const brand = Symbol.for('@gq/core/GqError');

/** Options of a `GqError` (and of every package error class). */
export interface GqErrorOptions {
  /** The error this one wraps (kept for debugging; not part of the message). */
  readonly cause?: unknown;
}

/**
 * The one error class of every GQ-TS package. `code` is a stable machine-readable reason
 * (`'bad-shape'`, `'bad-option'`, …) and the message names the function, what must hold and what
 * was seen. `source` names the package that threw (`'@gq/codebook'`).
 */
export class GqError extends Error {
  readonly code: string;
  readonly source: string;
  /** Marks instances across duplicate copies of this module (two installed versions, bundles). */
  readonly [brand] = true;

  constructor(source: string, code: string, message: string, options: GqErrorOptions = {}) {
    super(message, options.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = 'GqError';
    this.source = source;
    this.code = code;
  }
}

/** True for any `GqError` (or subclass), also when it comes from another copy of this package. */
export function isGqError(value: unknown): value is GqError {
  return value instanceof GqError || (typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[brand] === true);
}

/** A package's named error class: a `GqError` subclass whose instances carry the package name. */
export type GqErrorClass = new (code: string, message: string, options?: GqErrorOptions) => GqError;

/**
 * Define a package's error class once: `export const CodebookError = gqErrorClass('CodebookError',
 * '@gq/codebook')` (plus `export type CodebookError = GqError`). Instances are `GqError`s, so
 * `isGqError` and `instanceof GqError` hold, and `instanceof CodebookError` tells packages apart.
 */
export function gqErrorClass(name: string, source: string): GqErrorClass {
  const named = {
    [name]: class extends GqError {
      constructor(code: string, message: string, options: GqErrorOptions = {}) {
        super(source, code, message, options);
        this.name = name;
      }
    },
  };
  return named[name]!;
}

/** Error thrown by @gq/core (layouts, statistics handles), with a stable machine-readable `code`. */
export const CoreError = gqErrorClass('CoreError', '@gq/core');
/** An error thrown by @gq/core: a `GqError` whose `source` is `'@gq/core'`. */
export type CoreError = GqError;
