/*
 * Internals of @gq/tokenizer for tests, benches and tools: manifest validation, the artifact id and
 * the VAE adapter. Not part of the public API; may change in any release.
 */
export { resolveManifest, computeArtifactId, manifestCore, CODEBOOK_WEIGHTS_KEY } from './manifest.js';
export type { ResolvedManifest } from './manifest.js';
export type { VaeDescription, Geometry } from './vae.js';
