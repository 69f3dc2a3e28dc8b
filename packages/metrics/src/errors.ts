import { gqErrorClass, type GqError } from '@gq/core';

/**
 * Error thrown by @gq/metrics, with a stable machine-readable `code`:
 * `bad-shape`, `bad-dtype`, `bad-option`, `image-too-small`, `index-out-of-range`,
 * `non-finite`, `empty`, `too-few-samples`, `count-overflow`, `no-convergence`.
 */
export const MetricsError = gqErrorClass('MetricsError', '@gq/metrics');
/** An error thrown by @gq/metrics: a `GqError` whose `source` is `'@gq/metrics'`. */
export type MetricsError = GqError;
