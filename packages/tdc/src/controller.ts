import * as tf from '@tensorflow/tfjs-core';
import { BAND_HALF_WIDTH, constantOf, type LatentLayout } from '@gq/core';
import { TdcError } from './errors.js';
import { resolveGrouping, tokenBitsFlat, type ResolvedGrouping } from './kl-bits.js';
import { assertUsableStats, summarizeBits, type TdcStats } from './stats.js';
import { checkLatentPair, finiteNumber } from './validate.js';

/** How the weighted token sum is normalised: per image (default, §4.2) or per token. */
export type TdcReduction = 'sumPerImage' | 'meanTokens';
/** `'tdc'`: the three tiers; `'globalOnly'`: λ_min = λ_max = 1 frozen, only λ adapts (§4.7). */
export type TdcMode = 'tdc' | 'globalOnly';
/** A closed interval `[lo, hi]` with 0 < lo ≤ hi. */
export type NumberRange = readonly [number, number];

/** Options of `createTdc`: the target (`targetBits` or `codebookSize`), the grouping and the controller constants. */
export interface TdcOptions {
  /** K; the target is T = log2 K. Must be a power of two ≥ 2. Give this or `targetBits`. */
  readonly codebookSize?: number;
  /** T in bits per token. Give this or `codebookSize`. */
  readonly targetBits?: number;
  /** m: latent dimensions per token. */
  readonly group: number;
  readonly layout?: LatentLayout;
  /** α in bits (default `BAND_HALF_WIDTH` from @gq/core, 0.5). The band [T − α, T + α] is inclusive. */
  readonly tolerance?: number;
  /** γ > 1 (default 1.01): every update multiplies or divides each λ by γ. */
  readonly factor?: number;
  /** Regulariser weight (default 0.1, the reference's). */
  readonly weight?: number;
  /** Nats → bits factor (default 1/ln 2). */
  readonly bitsPerNat?: number;
  /** Clip for the global λ (default null: unclipped, as the reference; recommended [1e-3, 1e3]). */
  readonly lambdaRange?: NumberRange | null;
  /** Clamps for the tier weights (defaults λ_min ∈ [1e-3, 1], λ_max ∈ [1, 1e3]). */
  readonly ranges?: { readonly lambdaMin?: NumberRange; readonly lambdaMax?: NumberRange };
  readonly reduction?: TdcReduction;
  readonly mode?: TdcMode;
  /** Reference code-history flag: λ_max never decreases (ratchets to its upper clamp). */
  readonly legacyLamMaxNoDecrease?: boolean;
  /** Reference code-history flag: the loss is not multiplied by λ. */
  readonly legacyNoGlobalLambda?: boolean;
  /**
   * Called once, with a message, when the rate collapses: the mean rate R̄ stays below
   * `RATE_COLLAPSE_FRACTION` (1/10) of the target for `RATE_COLLAPSE_UPDATES` (100) updates in a row.
   * The usual cause is a distortion reduced by a mean while the rate is a per-image sum. Default
   * `console.warn`; `false` turns the check off. Not part of the serialised state.
   */
  readonly onRateCollapse?: ((message: string) => void) | false;
}

/** The rate-collapse check fires when R̄ < this fraction of T … */
export const RATE_COLLAPSE_FRACTION = 0.1;
/** … for this many consecutive updates. */
export const RATE_COLLAPSE_UPDATES = 100;

/** The whole controller as JSON numbers; `JSON.parse(JSON.stringify(state))` restores it exactly. */
export interface TdcState {
  readonly version: 1;
  readonly lambda: number;
  readonly lambdaMin: number;
  readonly lambdaMax: number;
  readonly updates: number;
  readonly targetBits: number;
  readonly tolerance: number;
  readonly factor: number;
  readonly weight: number;
  readonly group: number;
  readonly layout: LatentLayout;
  readonly bitsPerNat: number;
  readonly lambdaRange: NumberRange | null;
  readonly lambdaMinRange: NumberRange;
  readonly lambdaMaxRange: NumberRange;
  readonly reduction: TdcReduction;
  readonly mode: TdcMode;
  readonly legacyLamMaxNoDecrease: boolean;
  readonly legacyNoGlobalLambda: boolean;
}

/** Statistics of a forward pass, held as kept tensors until read. */
export interface TdcStatsHandle {
  /** Reads the per-token rates and loss of that forward pass, disposes them, returns float64 stats. */
  read(): Promise<TdcStats>;
  /** Frees the held tensors without reading them. */
  dispose(): void;
  readonly isDisposed: boolean;
}

/** What `Tdc.loss` returns. */
export interface TdcLossResult {
  /** Scalar float32 loss, differentiable with respect to μ and ℓ. Caller (or minimize) disposes. */
  readonly loss: tf.Scalar;
  /** Statistics of this same forward pass; they survive `tf.tidy` and `optimizer.minimize`. */
  readonly stats: TdcStatsHandle;
}

/** A TDC controller (`createTdc`, `fromState`): the loss of a forward pass and the λ updates between steps. */
export interface Tdc {
  readonly targetBits: number;
  readonly group: number;
  readonly layout: LatentLayout;
  /** A snapshot of the controller state (JSON-ready). */
  readonly state: TdcState;
  /** L_TDC with the current λ's, plus the statistics of the same forward pass. */
  loss(mu: tf.Tensor, logVar: tf.Tensor): TdcLossResult;
  /** Applies the λ, λ_min, λ_max rules once (one optimiser step) and returns the new state. */
  update(stats: TdcStats): TdcState;
  /** Replaces the state (e.g. from a checkpoint); the configuration must match. */
  setState(state: TdcState): void;
}

const FN = 'createTdc';

function checkRange(fn: string, name: string, range: unknown): NumberRange {
  if (
    !Array.isArray(range) ||
    range.length !== 2 ||
    !range.every((v) => typeof v === 'number' && Number.isFinite(v) && v > 0) ||
    range[0] > range[1]
  ) {
    throw new TdcError('bad-option', `${fn}: ${name} must be [lo, hi] with 0 < lo ≤ hi, got ${JSON.stringify(range)}`);
  }
  return [range[0], range[1]];
}

function resolveTarget(options: TdcOptions): number {
  const { codebookSize, targetBits } = options;
  if ((codebookSize === undefined) === (targetBits === undefined)) {
    throw new TdcError(
      'bad-option',
      `${FN}: give exactly one of codebookSize and targetBits, got codebookSize=${String(codebookSize)}, targetBits=${String(targetBits)}`,
    );
  }
  if (codebookSize !== undefined) {
    const isPowerOfTwo = Number.isInteger(codebookSize) && codebookSize >= 2 && codebookSize <= 2 ** 52 && Math.log2(codebookSize) % 1 === 0;
    if (!isPowerOfTwo) {
      throw new TdcError('bad-option', `${FN}: codebookSize must be a power of two ≥ 2, got ${String(codebookSize)}`);
    }
    return Math.log2(codebookSize);
  }
  return finiteNumber(FN, 'targetBits', targetBits, 'positive');
}

function buildState(options: TdcOptions): TdcState {
  if (options === null || typeof options !== 'object') throw new TdcError('bad-option', `${FN}: options must be an object`);
  const targetBits = resolveTarget(options);
  const grouping = resolveGrouping(FN, options);
  const reduction = options.reduction ?? 'sumPerImage';
  if (reduction !== 'sumPerImage' && reduction !== 'meanTokens') {
    throw new TdcError('bad-option', `${FN}: reduction must be 'sumPerImage' or 'meanTokens', got ${JSON.stringify(reduction)}`);
  }
  const mode = options.mode ?? 'tdc';
  if (mode !== 'tdc' && mode !== 'globalOnly') {
    throw new TdcError('bad-option', `${FN}: mode must be 'tdc' or 'globalOnly', got ${JSON.stringify(mode)}`);
  }
  const factor = finiteNumber(FN, 'factor', options.factor ?? 1.01, 'positive');
  if (factor <= 1) throw new TdcError('bad-option', `${FN}: factor must be > 1, got ${factor}`);
  const lambdaRange = options.lambdaRange == null ? null : checkRange(FN, 'lambdaRange', options.lambdaRange);
  return {
    version: 1,
    lambda: lambdaRange ? clamp(1, lambdaRange) : 1,
    lambdaMin: 1,
    lambdaMax: 1,
    updates: 0,
    targetBits,
    tolerance: finiteNumber(FN, 'tolerance', options.tolerance ?? BAND_HALF_WIDTH, 'positive'),
    factor,
    weight: finiteNumber(FN, 'weight', options.weight ?? 0.1, 'nonNegative'),
    group: grouping.group,
    layout: grouping.layout,
    bitsPerNat: grouping.bitsPerNat,
    lambdaRange,
    lambdaMinRange: checkRange(FN, 'ranges.lambdaMin', options.ranges?.lambdaMin ?? [1e-3, 1]),
    lambdaMaxRange: checkRange(FN, 'ranges.lambdaMax', options.ranges?.lambdaMax ?? [1, 1e3]),
    reduction,
    mode,
    legacyLamMaxNoDecrease: options.legacyLamMaxNoDecrease ?? false,
    legacyNoGlobalLambda: options.legacyNoGlobalLambda ?? false,
  };
}

/** `max(min(x, hi), lo)`, in the reference's order. */
function clamp(x: number, [lo, hi]: NumberRange): number {
  return Math.max(Math.min(x, hi), lo);
}

/**
 * One controller step (§4.3), pure. Comparisons are strict: R̄ = T lowers λ, R_max = T + α lowers
 * λ_max, R_min = T − α raises λ_min. Each value is multiplied or divided by γ in float64.
 */
export function nextState(state: TdcState, stats: TdcStats): TdcState {
  const { targetBits: T, tolerance: alpha, factor: gamma } = state;
  let lambda = stats.mean > T ? state.lambda * gamma : state.lambda / gamma;
  if (state.lambdaRange) lambda = clamp(lambda, state.lambdaRange);
  let { lambdaMin, lambdaMax } = state;
  if (state.mode === 'tdc') {
    if (stats.max > T + alpha) lambdaMax = lambdaMax * gamma;
    else if (!state.legacyLamMaxNoDecrease) lambdaMax = lambdaMax / gamma;
    lambdaMax = clamp(lambdaMax, state.lambdaMaxRange);
    lambdaMin = stats.min < T - alpha ? lambdaMin / gamma : lambdaMin * gamma;
    lambdaMin = clamp(lambdaMin, state.lambdaMinRange);
  }
  return { ...state, lambda, lambdaMin, lambdaMax, updates: state.updates + 1 };
}

function validateState(fn: string, state: TdcState): TdcState {
  if (state === null || typeof state !== 'object' || state.version !== 1) {
    throw new TdcError('bad-state', `${fn}: state must be a version-1 TDC state object, got version ${String((state as { version?: unknown } | null)?.version)}`);
  }
  const rebuilt = buildState({
    targetBits: state.targetBits,
    group: state.group,
    layout: state.layout,
    tolerance: state.tolerance,
    factor: state.factor,
    weight: state.weight,
    bitsPerNat: state.bitsPerNat,
    lambdaRange: state.lambdaRange,
    ranges: { lambdaMin: state.lambdaMinRange, lambdaMax: state.lambdaMaxRange },
    reduction: state.reduction,
    mode: state.mode,
    legacyLamMaxNoDecrease: state.legacyLamMaxNoDecrease,
    legacyNoGlobalLambda: state.legacyNoGlobalLambda,
  });
  for (const key of ['lambda', 'lambdaMin', 'lambdaMax'] as const) {
    finiteNumber(fn, `state.${key}`, state[key], 'positive');
  }
  if (!Number.isInteger(state.updates) || state.updates < 0) {
    throw new TdcError('bad-state', `${fn}: state.updates must be a non-negative integer, got ${String(state.updates)}`);
  }
  return { ...rebuilt, lambda: state.lambda, lambdaMin: state.lambdaMin, lambdaMax: state.lambdaMax, updates: state.updates };
}

function sameConfig(a: TdcState, b: TdcState): boolean {
  const keys = ['targetBits', 'tolerance', 'factor', 'weight', 'group', 'layout', 'bitsPerNat', 'reduction', 'mode'] as const;
  return keys.every((k) => a[k] === b[k]);
}

class StatsHandle implements TdcStatsHandle {
  private bits: tf.Tensor | null;
  private lossValue: tf.Tensor | null;

  constructor(
    bits: tf.Tensor,
    lossValue: tf.Tensor,
    private readonly used: TdcState,
  ) {
    this.bits = tf.keep(bits);
    this.lossValue = tf.keep(lossValue);
  }

  get isDisposed(): boolean {
    return this.bits === null;
  }

  async read(): Promise<TdcStats> {
    const { bits, lossValue } = this;
    if (bits === null || lossValue === null) {
      throw new TdcError('disposed', 'TdcStatsHandle.read: these statistics were already read or disposed');
    }
    this.bits = null;
    this.lossValue = null;
    let values: Float32Array;
    let loss: Float32Array;
    try {
      [values, loss] = (await Promise.all([bits.data(), lossValue.data()])) as [Float32Array, Float32Array];
    } finally {
      bits.dispose();
      lossValue.dispose();
    }
    const summary = summarizeBits(values, { targetBits: this.used.targetBits, tolerance: this.used.tolerance });
    return {
      ...summary,
      updates: this.used.updates,
      loss: loss[0]!,
      lambda: this.used.lambda,
      lambdaMin: this.used.lambdaMin,
      lambdaMax: this.used.lambdaMax,
    };
  }

  dispose(): void {
    this.bits?.dispose();
    this.lossValue?.dispose();
    this.bits = null;
    this.lossValue = null;
  }
}

type CollapseHandler = (message: string) => void;

function resolveCollapseHandler(option: TdcOptions['onRateCollapse']): CollapseHandler | null {
  if (option === false) return null;
  if (option === undefined) return (message) => globalThis.console?.warn(message);
  if (typeof option !== 'function') {
    throw new TdcError('bad-option', `${FN}: onRateCollapse must be a function or false, got ${typeof option}`);
  }
  return option;
}

class TdcController implements Tdc {
  private current: TdcState;
  /** Consecutive updates with R̄ < RATE_COLLAPSE_FRACTION · T; -1 once the warning was given. */
  private lowRateUpdates = 0;

  constructor(
    state: TdcState,
    private readonly onRateCollapse: CollapseHandler | null,
  ) {
    this.current = state;
  }

  private checkCollapse(stats: TdcStats): void {
    if (this.onRateCollapse === null || this.lowRateUpdates < 0) return;
    const { targetBits } = this.current;
    this.lowRateUpdates = stats.mean < RATE_COLLAPSE_FRACTION * targetBits ? this.lowRateUpdates + 1 : 0;
    if (this.lowRateUpdates < RATE_COLLAPSE_UPDATES) return;
    this.lowRateUpdates = -1;
    this.onRateCollapse(
      `tdc.update: the mean rate must approach the target of ${targetBits} bits per token, but it stayed below ` +
        `${RATE_COLLAPSE_FRACTION * targetBits} bits for ${RATE_COLLAPSE_UPDATES} updates (now ${stats.mean.toPrecision(3)} bits). ` +
        `TDC's rate is ${this.current.reduction === 'sumPerImage' ? 'summed per image' : 'a mean over tokens'}; reduce the distortion ` +
        `the same way (e.g. sum over each image's values, mean over the batch), or it outweighs the distortion and the rate collapses to 0.`,
    );
  }

  get targetBits(): number {
    return this.current.targetBits;
  }
  get group(): number {
    return this.current.group;
  }
  get layout(): LatentLayout {
    return this.current.layout;
  }
  get state(): TdcState {
    return { ...this.current };
  }

  loss(mu: tf.Tensor, logVar: tf.Tensor): TdcLossResult {
    const state = this.current;
    const grouping: ResolvedGrouping = { group: state.group, layout: state.layout, bitsPerNat: state.bitsPerNat };
    const { images, tokens } = checkLatentPair('tdc.loss', mu, logVar, state.group);
    const scale = state.reduction === 'meanTokens' ? 1 / tokens : 1 / images;
    const lambda = state.legacyNoGlobalLambda ? 1 : state.lambda;
    const multiplier = state.weight * lambda * scale;
    const upper = state.targetBits + state.tolerance;
    const lower = state.targetBits - state.tolerance;
    const { lambdaMin, lambdaMax } = state;
    let stats: TdcStatsHandle | undefined;
    const loss = tf.tidy(() => {
      const bits = tokenBitsFlat(mu, logVar, grouping);
      // Tier weights are constants of the differentiation (§4.2): built off the tape.
      const tierWeights = constantOf(bits, (r) => {
        if (lambdaMin === 1 && lambdaMax === 1) return tf.onesLike(r);
        const outside = tf.where(tf.less(r, lower), tf.fill(r.shape, lambdaMin), tf.fill(r.shape, lambdaMax));
        const inBand = tf.logicalAnd(tf.greaterEqual(r, lower), tf.lessEqual(r, upper));
        return tf.where(inBand, tf.onesLike(r), outside);
      });
      const value = tf.mul(tf.sum(tf.mul(tierWeights, bits)), tf.scalar(multiplier)) as tf.Scalar;
      stats = new StatsHandle(bits, tf.clone(value), state);
      return value;
    });
    return { loss, stats: stats! };
  }

  update(stats: TdcStats): TdcState {
    assertUsableStats('tdc.update', stats);
    if (stats.updates !== undefined && stats.updates !== this.current.updates) {
      throw new TdcError(
        'stale-stats',
        `tdc.update: stats must come from the current step (updates=${this.current.updates}), got stats from updates=${stats.updates}`,
      );
    }
    this.checkCollapse(stats);
    this.current = nextState(this.current, stats);
    return this.state;
  }

  setState(state: TdcState): void {
    const next = validateState('tdc.setState', state);
    if (!sameConfig(next, this.current)) {
      throw new TdcError('bad-state', 'tdc.setState: state configuration (T, α, γ, weight, group, layout, bitsPerNat, reduction, mode) must match this controller; use fromState to restore a different one');
    }
    this.current = next;
  }
}

/**
 * The Target Divergence Constraint controller (§4). λ = λ_min = λ_max = 1 initially.
 * Usage per optimiser step: compute `loss(mu, logVar)` inside the step, then after the step
 * `update(await stats.read())` (pool micro-batches or workers with `combineStats` first).
 */
export function createTdc(options: TdcOptions): Tdc {
  const state = buildState(options);
  return new TdcController(state, resolveCollapseHandler(options.onRateCollapse));
}

/** Options of `fromState`: what is not part of the serialised state. */
export interface FromStateOptions {
  /** As `TdcOptions.onRateCollapse` (default `console.warn`; `false` turns the check off). */
  readonly onRateCollapse?: ((message: string) => void) | false;
}

/** Restores a controller from `tdc.state` (e.g. after `JSON.parse`). */
export function fromState(state: TdcState, options: FromStateOptions = {}): Tdc {
  return new TdcController(validateState('fromState', state), resolveCollapseHandler(options.onRateCollapse));
}
