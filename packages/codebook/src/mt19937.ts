/*
 * MT19937 (Matsumoto–Nishimura 1998) exactly as PyTorch's CPU generator runs it: `manual_seed(s)`
 * fills the 624-word state from the low 32 bits of s with the reference initialisation
 * (state[j] = 1812433253·(state[j−1] ⊕ state[j−1] ≫ 30) + j mod 2^32), and each draw returns the
 * next tempered 32-bit word. This is the same stream as C++'s std::mt19937 seeded with s mod 2^32.
 */

const STATE_WORDS = 624;
const SHIFT_WORDS = 397;
const MATRIX_A = 0x9908b0df;
const UPPER_MASK = 0x80000000;
const LOWER_MASK = 0x7fffffff;

/** A seeded MT19937 stream of uint32 words (torch's CPU generator after `manual_seed(seed)`). */
export class Mt19937 {
  readonly #state = new Uint32Array(STATE_WORDS);
  #index = STATE_WORDS;

  /** @param seed integer in [0, 2^32); torch uses its seed modulo 2^32. */
  constructor(seed: number) {
    const state = this.#state;
    state[0] = seed >>> 0;
    for (let j = 1; j < STATE_WORDS; j++) {
      const previous = state[j - 1]!;
      state[j] = (Math.imul(1812433253, (previous ^ (previous >>> 30)) >>> 0) + j) >>> 0;
    }
  }

  /** The next 32-bit output, as an unsigned integer. */
  next(): number {
    if (this.#index >= STATE_WORDS) this.#twist();
    let y = this.#state[this.#index++]!;
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** Regenerates all 624 words at once (the generator's "next state"). */
  #twist(): void {
    const state = this.#state;
    for (let j = 0; j < STATE_WORDS; j++) {
      const mixed = (state[j]! & UPPER_MASK) | (state[(j + 1) % STATE_WORDS]! & LOWER_MASK);
      const twisted = (mixed >>> 1) ^ (mixed & 1 ? MATRIX_A : 0);
      state[j] = (state[(j + SHIFT_WORDS) % STATE_WORDS]! ^ twisted) >>> 0;
    }
    this.#index = 0;
  }
}
