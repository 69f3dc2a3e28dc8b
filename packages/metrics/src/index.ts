export { MetricsError } from './errors.js';
export type { DataRange } from './image-input.js';
export type { ImageMetric } from './result.js';
export { psnr } from './psnr.js';
export type { PsnrOptions, PsnrResult } from './psnr.js';
export { ssim } from './ssim.js';
export type { SsimOptions, SsimResult } from './ssim.js';
export { msSsim, MS_SSIM_WEIGHTS, MS_SSIM_MIN_SIDE } from './ms-ssim.js';
export { SSIM_WINDOW_SIZE, SSIM_WINDOW_SIGMA } from './gaussian-window.js';
export { IndexHistogram, codebookStats, codebookUsage, indexEntropy, perplexity } from './codebook-usage.js';
export type { CodebookStats } from './codebook-usage.js';
export { RateAccumulator, rateStats, quantileSorted } from './rate-stats.js';
export type { RateStats, RateStatsOptions, RateHistogram } from './rate-stats.js';
export { MomentAccumulator } from './moments.js';
export type { GaussianMoments } from './moments.js';
export { frechetDistance, frechetDistanceFromMoments } from './frechet.js';
export type { FeatureMatrix, FeatureSource } from './frechet.js';
export {
  largeErrorStats,
  LargeErrorBins,
  theorem31Bound,
  theorem32Bound,
  slackNats,
} from './large-error.js';
export type { LargeErrorStats, LargeErrorOptions, LargeErrorBin, LargeErrorBatch } from './large-error.js';
