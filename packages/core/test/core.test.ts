import { describe, expect, it } from 'vitest';
import { GqError, isGqError, pixelToUnit, unitToPixel, pixelsToUnit, unitToPixels, VANILLA_KL_WEIGHT } from '@gq/core';

describe('GqError', () => {
  it('carries code, source and cause; isGqError recognises it and nothing else', () => {
    const cause = new Error('inner');
    const error = new GqError('@gq/codebook', 'bad-shape', 'gqQuantize: mu must be [N, 4], got [2, 3]', { cause });
    expect(error).toBeInstanceOf(Error);
    expect(error.code).toBe('bad-shape');
    expect(error.source).toBe('@gq/codebook');
    expect(error.cause).toBe(cause);
    expect(isGqError(error)).toBe(true);
    expect(isGqError(new Error('x'))).toBe(false);
    expect(isGqError({ code: 'bad-shape', name: 'GqError' })).toBe(false);
    expect(isGqError(null)).toBe(false);
  });
  it('subclasses keep instanceof and isGqError', () => {
    class CodebookError extends GqError {
      constructor(code: string, message: string) {
        super('@gq/codebook', code, message);
        this.name = 'CodebookError';
      }
    }
    const error = new CodebookError('bad-option', 'x');
    expect(error).toBeInstanceOf(GqError);
    expect(isGqError(error)).toBe(true);
    expect(error.name).toBe('CodebookError');
  });
});

describe('pixel mapping', () => {
  it('maps 0, 127.5, 255 to −1, 0, 1 and round-trips every 8-bit value exactly', () => {
    expect(pixelToUnit(0)).toBe(-1);
    expect(pixelToUnit(255)).toBe(1);
    expect(pixelToUnit(127.5)).toBe(0);
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    expect(Array.from(unitToPixels(pixelsToUnit(all)))).toEqual(Array.from(all));
  });
  it('clamps out-of-range values and maps NaN to 0', () => {
    expect(unitToPixel(-3)).toBe(0);
    expect(unitToPixel(2)).toBe(255);
    expect(unitToPixel(Number.NaN)).toBe(0);
    expect(unitToPixel(0)).toBe(128);
  });
  it('vanilla KL weight per bit is 0.64 per nat times ln 2', () => {
    expect(VANILLA_KL_WEIGHT).toBeCloseTo(0.443614195558365, 14);
  });
});

describe('gqErrorClass', () => {
  it('defines a named GqError subclass that packages tell apart', async () => {
    const { gqErrorClass } = await import('@gq/core');
    const AError = gqErrorClass('AError', '@gq/a');
    const BError = gqErrorClass('BError', '@gq/b');
    const a = new AError('bad-option', 'f: x must be > 0, got -1');
    expect(a.name).toBe('AError');
    expect(a.source).toBe('@gq/a');
    expect(a.code).toBe('bad-option');
    expect(a).toBeInstanceOf(AError);
    expect(a).not.toBeInstanceOf(BError);
    expect(isGqError(a)).toBe(true);
    expect(AError.name).toBe('AError');
  });
});
