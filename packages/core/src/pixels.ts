/**
 * The one mapping between 8-bit pixels and model inputs: v ∈ [0, 255] ↦ v/127.5 − 1 ∈ [−1, 1], and
 * back by round((x + 1)·127.5) clamped to [0, 255] (the reference's convention).
 */
export function pixelToUnit(value: number): number {
  return value / 127.5 - 1;
}

/** x ∈ [−1, 1] ↦ round((x + 1)·127.5), clamped to [0, 255]; NaN maps to 0. */
export function unitToPixel(value: number): number {
  const v = Math.round((value + 1) * 127.5);
  return v > 255 ? 255 : v >= 0 ? v : 0;
}

/** `pixelToUnit` over a whole array. */
export function pixelsToUnit(pixels: ArrayLike<number>, out: Float32Array = new Float32Array(pixels.length)): Float32Array {
  for (let i = 0; i < pixels.length; i++) out[i] = pixels[i]! / 127.5 - 1;
  return out;
}

/** `unitToPixel` over a whole array. */
export function unitToPixels(values: ArrayLike<number>, out: Uint8Array = new Uint8Array(values.length)): Uint8Array {
  for (let i = 0; i < values.length; i++) out[i] = unitToPixel(values[i]!);
  return out;
}
