/** A metric evaluated per image and averaged over images. */
export interface ImageMetric {
  /** One value per image, in batch order. */
  readonly perImage: Float64Array;
  /** Mean of `perImage` (+∞ for PSNR when any pair is identical; never capped). */
  readonly mean: number;
  /** Number of images; report it with the mean. */
  readonly count: number;
}

export function meanOf(values: Float64Array): number {
  let sum = 0;
  for (const v of values) sum += v;
  return sum / values.length;
}
