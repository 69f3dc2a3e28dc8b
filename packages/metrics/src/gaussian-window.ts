/** Taps of the SSIM window: 11 samples of a σ = 1.5 Gaussian at k = −5..5. */
export const SSIM_WINDOW_SIZE = 11;
/** σ of the SSIM Gaussian window, in pixels (the reference SSIM’s 1.5). */
export const SSIM_WINDOW_SIGMA = 1.5;

/**
 * Normalised 1-D Gaussian taps g_k ∝ exp(−k²/(2σ²)), k = −r..r. Normalised in float64 before the
 * float32 cast so the float32 taps sum to 1 within a few ulps.
 */
export function gaussianTaps(size = SSIM_WINDOW_SIZE, sigma = SSIM_WINDOW_SIGMA): Float64Array {
  const radius = (size - 1) / 2;
  const taps = new Float64Array(size);
  let total = 0;
  for (let i = 0; i < size; i++) {
    const k = i - radius;
    taps[i] = Math.exp(-(k * k) / (2 * sigma * sigma));
    total += taps[i]!;
  }
  for (let i = 0; i < size; i++) taps[i] = taps[i]! / total;
  return taps;
}
