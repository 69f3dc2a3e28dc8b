import type { Tokens } from '@gq/tokenizer';
import { InferError } from './errors.js';

/** The tokens of images [start, start + count) of a batch (copies the indices). */
export function sliceTokens(tokens: Tokens, start: number, count = 1): Tokens {
  const [batch, h, w, g] = tokens.shape;
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(count) || start < 0 || count < 1 || start + count > batch) {
    throw new InferError('bad-slice', `sliceTokens: [start, start+count) must lie in [0, ${batch}), got start=${start}, count=${count}`);
  }
  const per = h * w * g;
  return { indices: tokens.indices.slice(start * per, (start + count) * per), shape: [count, h, w, g], bitsPerToken: tokens.bitsPerToken };
}

/** Batches of equal grids joined along B. */
export function concatTokens(parts: readonly Tokens[]): Tokens {
  if (parts.length === 0) throw new InferError('no-tokens', 'concatTokens: parts must hold at least one batch, got none');
  const [, h, w, g] = parts[0]!.shape;
  const bits = parts[0]!.bitsPerToken;
  let batch = 0;
  for (const part of parts) {
    const [b, ph, pw, pg] = part.shape;
    if (ph !== h || pw !== w || pg !== g || part.bitsPerToken !== bits) {
      throw new InferError('grid-mismatch', `concatTokens: every part must have grid [${h},${w},${g}] and ${bits} bits, got [${ph},${pw},${pg}] and ${part.bitsPerToken}`);
    }
    batch += b;
  }
  const indices = new Int32Array(batch * h * w * g);
  let offset = 0;
  for (const part of parts) {
    indices.set(part.indices, offset);
    offset += part.indices.length;
  }
  return { indices, shape: [batch, h, w, g], bitsPerToken: bits };
}

/** Share of positions where two index arrays agree (1 for identical), and how many differ. */
export function tokenAgreement(a: ArrayLike<number>, b: ArrayLike<number>): { rate: number; differing: number } {
  if (a.length !== b.length) {
    throw new InferError('length-mismatch', `tokenAgreement: both index arrays must have the same length, got ${a.length} and ${b.length}`);
  }
  let differing = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) differing++;
  return { rate: a.length === 0 ? 1 : 1 - differing / a.length, differing };
}
