/** Exact 1/ln 2: converts nats to bits. The reference implementation truncates it to 1.4426. */
export const BITS_PER_NAT = 1.4426950408889634;

/**
 * The log-variance clamp applied before any use of ℓ. The upper end keeps exp(ℓ) finite in
 * float32; the lower end keeps σ⁻² = exp(−ℓ) ≤ e³⁰ ≈ 1.1e13, far from float32 overflow.
 */
export const LOG_VAR_MIN = -30;
export const LOG_VAR_MAX = 20;
