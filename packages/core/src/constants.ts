/** Exact 1/ln 2: converts nats to bits. */
export const BITS_PER_NAT = 1.4426950408889634;

/**
 * log σ² is clamped to [LOG_VAR_MIN, LOG_VAR_MAX] before any use. The upper end keeps exp(ℓ)
 * finite in float32; the lower end keeps σ⁻² = exp(−ℓ) ≤ e³⁰ ≈ 1.1e13, far from float32 overflow.
 */
export const LOG_VAR_MIN = -30;
/** Upper end of the log σ² clamp (see `LOG_VAR_MIN`). */
export const LOG_VAR_MAX = 20;
/** `[LOG_VAR_MIN, LOG_VAR_MAX]` as a pair. */
export const LOG_VAR_RANGE = [LOG_VAR_MIN, LOG_VAR_MAX] as const;

/**
 * TDC's band half-width α in bits: a token is "in band" when its KL rate lies in [T − α, T + α]
 * (T = log2 K). The paper's and the reference's value.
 */
export const BAND_HALF_WIDTH = 0.5;

/** The reference's fixed KL weight for a vanilla Gaussian VAE: 0.64 per nat. */
export const VANILLA_KL_WEIGHT_PER_NAT = 0.64;
/** The same weight per bit of KL (0.64·ln 2 ≈ 0.4436), the unit the rate functions return. */
export const VANILLA_KL_WEIGHT = VANILLA_KL_WEIGHT_PER_NAT * Math.LN2;
