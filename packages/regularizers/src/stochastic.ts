/**
 * Seeded stochastic regularisers: dropout (standard and inverted), spatial
 * (channel) dropout, DropConnect, stochastic depth and ShakeDrop, with dropout
 * rates that may follow a {@link Schedule} or an adaptive controller. Every
 * random draw comes from an {@link Rng}, so a seed fixes every mask; each
 * forward records what it sampled (a mask or per-sample coefficients) and the
 * backward applies exactly that.
 */
import {
  type FloatArray,
  InvalidOptionError,
  type Parameter,
  type Schedule,
  ShapeMismatchError,
  StateDictError,
  checkBoolean,
  checkInRange,
  checkInteger,
  checkNonNegative,
  checkPositive,
} from '@opt/core';
import { Rng, type RngState } from '@opt/tensor';
import type { BackwardOptions } from './normalization.js';
import { checkBuffer, checkShape } from './penalties-common.js';

/** Options of the dropout functions. */
export interface DropoutOptions {
  /**
   * Inverted dropout (default `true`, as PyTorch): kept units are scaled by
   * `1/(1 − p)` during training and evaluation is the identity. `false`: the
   * original formulation (Srivastava et al. 2014): training keeps units
   * unscaled and evaluation multiplies by `1 − p`.
   */
  inverted?: boolean;
  /** Training mode samples a mask (default `true`); evaluation is deterministic. */
  training?: boolean;
}

/**
 * Fill `mask` with independent Bernoulli draws: `scale` with probability
 * `keepProb`, else 0 (one {@link Rng.uniform32} per element, in order).
 *
 * @returns `mask`.
 * @example
 * ```ts
 * const mask = bernoulliMask(new Float32Array(8), 0.75, new Rng(1), 1 / 0.75);
 * ```
 */
export function bernoulliMask<T extends FloatArray>(mask: T, keepProb: number, rng: Rng, scale = 1, length = mask.length): T {
  checkInRange('bernoulliMask', 'keepProb', keepProb, 0, 1);
  if (keepProb === 1) {
    mask.fill(scale, 0, length);
    return mask;
  }
  for (let i = 0; i < length; i++) mask[i] = rng.uniform32() < keepProb ? scale : 0;
  return mask;
}

/**
 * Dropout on a buffer: `out = x ⊙ mask`, with `mask` sampled in training mode
 *
 * ```
 * mask_i = m_i·s,   m_i ~ Bernoulli(1 − p),   s = 1/(1 − p) (inverted) or 1
 * ```
 *
 * and in evaluation mode filled with `1` (inverted) or `1 − p`, so
 * `E[out] = x` (inverted) in training, and the backward is always
 * `∂L/∂x = ∂L/∂out ⊙ mask` ({@link dropoutBackward}).
 *
 * @param x - input (any shape).
 * @param out - receives the output (may be `x`).
 * @param mask - receives the mask (same length).
 * @param p - drop probability in [0, 1].
 * @param rng - the generator (advanced by one draw per element in training when 0 < p).
 * @returns `out`.
 * @example
 * ```ts
 * const rng = new Rng(0);
 * const x = new Float64Array([1, 2, 3, 4]);
 * const mask = new Float64Array(4);
 * const y = dropout(x, new Float64Array(4), mask, 0.5, rng);  // each y_i is 0 or 2·x_i
 * ```
 */
export function dropout<T extends FloatArray>(
  x: FloatArray,
  out: T,
  mask: FloatArray,
  p: number,
  rng: Rng,
  options: DropoutOptions = {},
): T {
  const where = 'dropout';
  checkInRange(where, 'p', p, 0, 1);
  const n = x.length;
  checkBuffer(where, 'x', x, n);
  checkBuffer(where, 'out', out, n);
  checkBuffer(where, 'mask', mask, n);
  fillDropoutMask(mask, n, p, rng, options);
  for (let i = 0; i < n; i++) out[i] = x[i]! * mask[i]!;
  return out;
}

function fillDropoutMask(mask: FloatArray, n: number, p: number, rng: Rng, options: DropoutOptions): void {
  const inverted = options.inverted ?? true;
  const keep = 1 - p;
  if (options.training ?? true) {
    // p = 1 drops everything; the inverted scale 1/(1 − p) would be infinite and 0·∞ = NaN.
    const scale = inverted ? (keep > 0 ? 1 / keep : 0) : 1;
    if (p === 0) mask.fill(1, 0, n);
    else bernoulliMask(mask, keep, rng, scale, n);
  } else {
    mask.fill(inverted ? 1 : keep, 0, n);
  }
}

/**
 * Backward of every mask-based regulariser: `gradIn = gradOut ⊙ mask` (or
 * `+=` with `accumulate`). Only the first `gradOut.length` mask entries are used.
 *
 * @returns `gradIn`.
 * @example
 * ```ts
 * dropoutBackward(dy, mask, dx);
 * ```
 */
export function dropoutBackward<T extends FloatArray>(
  gradOut: FloatArray,
  mask: FloatArray,
  gradIn: T,
  options: BackwardOptions = {},
): T {
  const where = 'dropoutBackward';
  const n = gradOut.length;
  checkBuffer(where, 'gradIn', gradIn, n);
  if (mask.length < n) throw new ShapeMismatchError(`${where}: mask has ${mask.length} elements, expected at least ${n}`);
  if (options.accumulate ?? false) for (let i = 0; i < n; i++) gradIn[i] = gradIn[i]! + gradOut[i]! * mask[i]!;
  else for (let i = 0; i < n; i++) gradIn[i] = gradOut[i]! * mask[i]!;
  return gradIn;
}

/** `out[r·inner + j] (+)= src[r·inner + j] · scales[r]` for every row r. */
function scaleRows(src: FloatArray, rows: number, inner: number, scales: ArrayLike<number>, out: FloatArray, accumulate: boolean): void {
  for (let r = 0; r < rows; r++) {
    const s = scales[r]!;
    const base = r * inner;
    if (accumulate) for (let j = 0; j < inner; j++) out[base + j] = out[base + j]! + src[base + j]! * s;
    else for (let j = 0; j < inner; j++) out[base + j] = src[base + j]! * s;
  }
}

/**
 * Spatial (channel) dropout (Tompson et al. 2015; PyTorch's `Dropout2d`/`Dropout3d`)
 * for `[N, C, ...]` buffers: whole feature maps are dropped together,
 *
 * ```
 * out[n, c, ...] = x[n, c, ...] · mask[n·C + c]
 * ```
 *
 * with the mask (`N·C` entries) sampled as in {@link dropout}.
 *
 * @param x - input `[N, C, ...]` (at least 2-D).
 * @param shape - its shape.
 * @param out - receives the output (may be `x`).
 * @param mask - receives the `N·C` channel mask.
 * @param p - drop probability in [0, 1].
 * @param rng - the generator.
 * @returns `out`.
 * @example
 * ```ts
 * const mask = new Float32Array(2 * 3);
 * spatialDropout(x, [2, 3, 4, 4], y, mask, 0.2, rng);
 * ```
 */
export function spatialDropout<T extends FloatArray>(
  x: FloatArray,
  shape: readonly number[],
  out: T,
  mask: FloatArray,
  p: number,
  rng: Rng,
  options: DropoutOptions = {},
): T {
  const where = 'spatialDropout';
  checkInRange(where, 'p', p, 0, 1);
  const [channels, inner] = channelView(where, x, shape);
  checkBuffer(where, 'out', out, x.length);
  checkBuffer(where, 'mask', mask, channels);
  fillDropoutMask(mask, channels, p, rng, options);
  scaleRows(x, channels, inner, mask, out, false);
  return out;
}

/**
 * Backward of {@link spatialDropout}: `gradIn[n, c, ...] = gradOut[n, c, ...] · mask[n·C + c]`.
 *
 * @returns `gradIn`.
 * @example
 * ```ts
 * spatialDropoutBackward(dy, [2, 3, 4, 4], mask, dx);
 * ```
 */
export function spatialDropoutBackward<T extends FloatArray>(
  gradOut: FloatArray,
  shape: readonly number[],
  mask: FloatArray,
  gradIn: T,
  options: BackwardOptions = {},
): T {
  const where = 'spatialDropoutBackward';
  const [channels, inner] = channelView(where, gradOut, shape);
  checkBuffer(where, 'gradIn', gradIn, gradOut.length);
  checkBuffer(where, 'mask', mask, channels);
  scaleRows(gradOut, channels, inner, mask, gradIn, options.accumulate ?? false);
  return gradIn;
}

function channelView(where: string, x: FloatArray, shape: readonly number[]): [number, number] {
  checkBuffer(where, 'x', x, x.length);
  checkShape(where, 'x', shape, x.length, 2);
  const channels = shape[0]! * shape[1]!;
  return [channels, channels === 0 ? 0 : x.length / channels];
}

/**
 * The linear-decay survival rule of stochastic depth (Huang et al. 2016), also
 * ShakeDrop's `p_l` rule (Yamada et al. 2018):
 *
 * ```
 * p_l = 1 − (l / L)·(1 − p_L)
 * ```
 *
 * so the input (`l = 0`) always survives and the last block (`l = L`) survives
 * with probability `p_L` (0.5 in both papers).
 *
 * @param l - block index, 0 ≤ l ≤ L.
 * @param depth - the number of blocks L ≥ 1.
 * @param finalSurvival - `p_L` in [0, 1] (default 0.5).
 * @example
 * ```ts
 * const probs = [1, 2, 3, 4].map((l) => linearDecaySurvival(l, 4)); // [0.875, 0.75, 0.625, 0.5]
 * ```
 */
export function linearDecaySurvival(l: number, depth: number, finalSurvival = 0.5): number {
  const where = 'linearDecaySurvival';
  checkInteger(where, 'depth', depth, 1);
  checkInRange(where, 'l', l, 0, depth);
  checkInRange(where, 'finalSurvival', finalSurvival, 0, 1);
  return 1 - (l / depth) * (1 - finalSurvival);
}

/** Options of {@link stochasticDepth}. */
export interface StochasticDepthOptions {
  /** `'row'` (default): one draw per sample; `'batch'`: one draw for the whole batch (torchvision's modes). */
  mode?: 'row' | 'batch';
  /**
   * `true` (default, torchvision's `stochastic_depth`): a surviving branch is
   * scaled by `1/p` and evaluation is the identity. `false` (Huang et al.
   * 2016): training keeps the branch unscaled, evaluation multiplies by `p`.
   */
  inverted?: boolean;
  /** Training mode samples gates (default `true`). */
  training?: boolean;
}

/**
 * Stochastic depth (Huang, Sun, Liu, Sedra & Weinberger 2016) on a residual
 * branch's output `F(x)` of shape `[N, ...]`: the block computes
 * `x + out`, with
 *
 * ```
 * out[n, ...] = F(x)[n, ...] · gate[n],   gate[n] = b_n·s,  b_n ~ Bernoulli(p)
 * ```
 *
 * (`s = 1/p` inverted, else 1; evaluation: `gate = 1` inverted, else `p`).
 * `p` is the block's survival probability, e.g. from {@link linearDecaySurvival}.
 * The backward is {@link stochasticDepthBackward} with the same gates.
 *
 * @param branch - `F(x)`, `[N, ...]`.
 * @param shape - its shape.
 * @param out - receives the gated branch (may be `branch`).
 * @param gate - receives the `N` per-sample gates.
 * @param survivalProb - p in [0, 1].
 * @param rng - the generator (one draw per sample, or one per batch).
 * @returns `out`.
 * @example
 * ```ts
 * const p = linearDecaySurvival(3, 12);
 * const gate = new Float64Array(batch);
 * stochasticDepth(fx, [batch, features], fx, gate, p, rng);
 * for (let i = 0; i < fx.length; i++) y[i] = x[i] + fx[i];
 * ```
 */
export function stochasticDepth<T extends FloatArray>(
  branch: FloatArray,
  shape: readonly number[],
  out: T,
  gate: FloatArray,
  survivalProb: number,
  rng: Rng,
  options: StochasticDepthOptions = {},
): T {
  const where = 'stochasticDepth';
  checkInRange(where, 'survivalProb', survivalProb, 0, 1);
  const mode = options.mode ?? 'row';
  if (mode !== 'row' && mode !== 'batch') throw new InvalidOptionError('mode', mode, "'row' or 'batch'", where);
  checkBuffer(where, 'branch', branch, branch.length);
  checkShape(where, 'branch', shape, branch.length, 1);
  const n = shape[0]!;
  checkBuffer(where, 'out', out, branch.length);
  checkBuffer(where, 'gate', gate, n);
  const inverted = options.inverted ?? true;
  const train = inverted ? (survivalProb > 0 ? 1 / survivalProb : 0) : 1;
  if (!(options.training ?? true)) gate.fill(inverted ? 1 : survivalProb);
  else if (mode === 'row') bernoulliMask(gate, survivalProb, rng, train);
  else gate.fill(survivalProb === 1 || rng.uniform32() < survivalProb ? train : 0);
  scaleRows(branch, n, n === 0 ? 0 : branch.length / n, gate, out, false);
  return out;
}

/**
 * Backward of {@link stochasticDepth} (of the branch): `gradIn[n, ...] = gradOut[n, ...]·gate[n]`.
 * The identity path's gradient is the caller's (it passes `gradOut` unchanged).
 *
 * @returns `gradIn`.
 * @example
 * ```ts
 * stochasticDepthBackward(dy, [batch, features], gate, dfx);
 * ```
 */
export function stochasticDepthBackward<T extends FloatArray>(
  gradOut: FloatArray,
  shape: readonly number[],
  gate: FloatArray,
  gradIn: T,
  options: BackwardOptions = {},
): T {
  const where = 'stochasticDepthBackward';
  checkBuffer(where, 'gradOut', gradOut, gradOut.length);
  checkShape(where, 'gradOut', shape, gradOut.length, 1);
  const n = shape[0]!;
  checkBuffer(where, 'gradIn', gradIn, gradOut.length);
  checkBuffer(where, 'gate', gate, n);
  scaleRows(gradOut, n, n === 0 ? 0 : gradOut.length / n, gate, gradIn, options.accumulate ?? false);
  return gradIn;
}

/** A dropout rate: a constant, or a {@link Schedule} of the step count. */
export type DropoutRate = number | Schedule;

/** Options of {@link Dropout}. */
export interface DropoutLayerOptions {
  /** Drop probability, constant or scheduled on {@link Dropout.stepCount} (default 0.5). */
  p?: DropoutRate;
  /** Inverted dropout (default `true`); see {@link DropoutOptions.inverted}. */
  inverted?: boolean;
  /** Seed of the layer's {@link Rng} (default 0). */
  seed?: number;
}

/** The state of a {@link Dropout}: its generator and step count. */
export interface DropoutState {
  step: number;
  rng: RngState;
}

/**
 * A dropout layer for hand-written networks: owns a preallocated mask of
 * `capacity` elements and a seeded {@link Rng}; `forward` samples and applies
 * the mask (see {@link dropout}), `backward` applies the same mask. The rate
 * may be a {@link Schedule} of the layer's step counter (advanced by
 * {@link Dropout.step}, e.g. once per optimizer step), such as
 * {@link curriculumDropoutSchedule} or an {@link AdaptiveDropoutRate}'s
 * `schedule`. Inputs may be shorter than `capacity` (a smaller last batch).
 *
 * @example
 * ```ts
 * const drop = new Dropout(4, { p: 0.5, seed: 42 });
 * const x = new Float64Array([1, 2, 3, 4]);
 * const y = drop.forward(x, new Float64Array(4));
 * const dx = drop.backward(new Float64Array([1, 1, 1, 1]), new Float64Array(4)); // 0 or 2 where kept
 * ```
 */
export class Dropout {
  /** Mask capacity (the largest input length). */
  readonly capacity: number;
  /** Inverted dropout. */
  readonly inverted: boolean;
  /** Training mode (samples masks); `false` for evaluation. */
  training = true;
  private readonly rate: DropoutRate;
  private readonly rng: Rng;
  private readonly maskBuffer: Float64Array;
  private steps = 0;
  private lastLength = 0;

  /** @param capacity - the largest number of elements `forward` will see. */
  constructor(capacity: number, options: DropoutLayerOptions = {}) {
    const where = 'Dropout';
    this.capacity = checkInteger(where, 'capacity', capacity, 0);
    this.inverted = checkBoolean(where, 'inverted', options.inverted ?? true);
    const p = options.p ?? 0.5;
    if (typeof p === 'number') checkInRange(where, 'p', p, 0, 1);
    else if (typeof p !== 'function') throw new InvalidOptionError('p', p, 'a number in [0, 1] or a schedule', where);
    this.rate = p;
    this.rng = new Rng(options.seed ?? 0);
    this.maskBuffer = new Float64Array(capacity);
  }

  /** The number of {@link Dropout.step} calls so far (the schedule's argument). */
  get stepCount(): number {
    return this.steps;
  }

  /** The drop probability at the current step (validated in [0, 1]). */
  get p(): number {
    const p = typeof this.rate === 'number' ? this.rate : this.rate(this.steps);
    return checkInRange('Dropout', 'p (scheduled)', p, 0, 1);
  }

  /** The mask of the last forward (a view of its first `length` entries). */
  get mask(): Float64Array {
    return this.maskBuffer.subarray(0, this.lastLength);
  }

  /** Advance the step counter that drives a scheduled rate. */
  step(): void {
    this.steps++;
  }

  /** Sample a mask for `x` (training) and write `x ⊙ mask` into `out`. */
  forward<T extends FloatArray>(x: FloatArray, out: T): T {
    const where = 'Dropout.forward';
    const n = x.length;
    if (n > this.capacity) throw new ShapeMismatchError(`${where}: input has ${n} elements, capacity is ${this.capacity}`);
    checkBuffer(where, 'out', out, n);
    fillDropoutMask(this.maskBuffer, n, this.p, this.rng, { inverted: this.inverted, training: this.training });
    this.lastLength = n;
    const mask = this.maskBuffer;
    for (let i = 0; i < n; i++) out[i] = x[i]! * mask[i]!;
    return out;
  }

  /** `gradIn = gradOut ⊙ mask` with the last forward's mask. */
  backward<T extends FloatArray>(gradOut: FloatArray, gradIn: T, options: BackwardOptions = {}): T {
    if (gradOut.length !== this.lastLength) {
      throw new ShapeMismatchError(`Dropout.backward: gradOut has ${gradOut.length} elements, the last forward had ${this.lastLength}`);
    }
    return dropoutBackward(gradOut, this.maskBuffer, gradIn, options);
  }

  /** Generator state and step count (plain JSON), to resume the exact mask stream. */
  stateDict(): DropoutState {
    return { step: this.steps, rng: this.rng.getState() };
  }

  /** Restore a state from {@link Dropout.stateDict}. */
  loadStateDict(state: DropoutState): void {
    if (typeof state !== 'object' || state === null || !Number.isInteger(state.step) || state.step < 0) {
      throw new StateDictError('Dropout.loadStateDict: expected {step: non-negative integer, rng}');
    }
    this.rng.setState(state.rng);
    this.steps = state.step;
  }
}

/**
 * Curriculum dropout (Morerio et al. 2017): the drop rate rises from 0 towards
 * `finalRate` as training proceeds,
 *
 * ```
 * p(t) = finalRate·(1 − exp(−γ·t))
 * ```
 *
 * (the paper's retain probability `θ(t) = (1 − θ̄)·exp(−γt) + θ̄` with `θ̄ = 1 − finalRate`).
 *
 * @param finalRate - the asymptotic drop rate in [0, 1].
 * @param gamma - the rate γ > 0 (the paper suggests `10 / totalSteps`).
 * @returns a {@link Schedule} for {@link Dropout}'s `p`.
 * @example
 * ```ts
 * const drop = new Dropout(1024, { p: curriculumDropoutSchedule(0.5, 10 / 10000), seed: 1 });
 * ```
 */
export function curriculumDropoutSchedule(finalRate: number, gamma: number): Schedule {
  checkInRange('curriculumDropoutSchedule', 'finalRate', finalRate, 0, 1);
  checkPositive('curriculumDropoutSchedule', 'gamma', gamma);
  return (step: number) => finalRate * (1 - Math.exp(-gamma * step));
}

/** Options of {@link AdaptiveDropoutRate}. */
export interface AdaptiveDropoutRateOptions {
  /** Starting rate (default 0.1). */
  initial?: number;
  /** Lowest rate (default 0). */
  min?: number;
  /** Highest rate (default 0.7). */
  max?: number;
  /** Change per update (default 0.05). */
  delta?: number;
  /** Target relative generalisation gap `(val − train)/|train|` (default 0.1). */
  targetGap?: number;
  /** Half-width of the dead band around the target where the rate is left alone (default 0.05). */
  tolerance?: number;
}

/**
 * An adaptive dropout rate driven by the generalisation gap: after each
 * evaluation call {@link AdaptiveDropoutRate.update} with the training and
 * validation losses, and
 *
 * ```
 * gap = (valLoss − trainLoss) / max(|trainLoss|, 1e-12)
 * gap > targetGap + tolerance  →  p ← min(max, p + delta)    (over-fitting: regularise more)
 * gap < targetGap − tolerance  →  p ← max(min, p − delta)    (under-fitting: regularise less)
 * ```
 *
 * `schedule` is a {@link Schedule} reading the current rate, so a
 * {@link Dropout} built with `p: controller.schedule` follows it.
 *
 * @example
 * ```ts
 * const controller = new AdaptiveDropoutRate({ initial: 0.1, max: 0.5 });
 * const drop = new Dropout(256, { p: controller.schedule, seed: 3 });
 * controller.update(0.20, 0.35);   // large gap: the rate rises to 0.15
 * ```
 */
export class AdaptiveDropoutRate {
  /** Lowest rate. */
  readonly min: number;
  /** Highest rate. */
  readonly max: number;
  /** Change per update. */
  readonly delta: number;
  /** Target relative generalisation gap. */
  readonly targetGap: number;
  /** Half-width of the dead band around the target. */
  readonly tolerance: number;
  private current: number;
  /** A {@link Schedule} that ignores its argument and returns the current rate. */
  readonly schedule: Schedule;

  constructor(options: AdaptiveDropoutRateOptions = {}) {
    const where = 'AdaptiveDropoutRate';
    this.min = checkInRange(where, 'min', options.min ?? 0, 0, 1);
    this.max = checkInRange(where, 'max', options.max ?? 0.7, this.min, 1);
    this.current = checkInRange(where, 'initial', options.initial ?? 0.1, this.min, this.max);
    this.delta = checkNonNegative(where, 'delta', options.delta ?? 0.05);
    this.targetGap = checkNonNegative(where, 'targetGap', options.targetGap ?? 0.1);
    this.tolerance = checkNonNegative(where, 'tolerance', options.tolerance ?? 0.05);
    this.schedule = () => this.current;
  }

  /** The current rate. */
  get rate(): number {
    return this.current;
  }

  /** Adjust the rate from one pair of losses; returns the new rate. */
  update(trainLoss: number, valLoss: number): number {
    if (!Number.isFinite(trainLoss) || !Number.isFinite(valLoss)) {
      throw new InvalidOptionError('losses', [trainLoss, valLoss], 'finite numbers', 'AdaptiveDropoutRate.update');
    }
    const gap = (valLoss - trainLoss) / Math.max(Math.abs(trainLoss), 1e-12);
    if (gap > this.targetGap + this.tolerance) this.current = Math.min(this.max, this.current + this.delta);
    else if (gap < this.targetGap - this.tolerance) this.current = Math.max(this.min, this.current - this.delta);
    return this.current;
  }
}

/** Options of {@link DropConnect}. */
export interface DropConnectOptions {
  /** Drop probability of each weight (default 0.5). */
  p?: number;
  /** Scale kept weights by `1/(1 − p)` (default `true`); see {@link DropoutOptions.inverted}. */
  inverted?: boolean;
  /** Seed of the {@link Rng} (default 0). */
  seed?: number;
}

/**
 * DropConnect (Wan, Zeiler, Zhang, LeCun & Fergus 2013): dropout on the
 * weights instead of the activations. `forward` samples a mask `M` and returns
 * the masked weight `W ⊙ M` (a preallocated buffer) for the layer to use;
 * `backward` maps the gradient with respect to the masked weight to the
 * weight, `∂L/∂W = ∂L/∂(W⊙M) ⊙ M`, adding it into `p.grad`. Evaluation uses
 * the mean weight (`W`, or `(1 − p)·W` when not inverted; the paper's
 * moment-matching inference is out of scope).
 *
 * @example
 * ```ts
 * const w = Parameter.from([0.5, -0.2, 0.1, 0.3], { shape: [2, 2], dtype: 'float64' });
 * const dc = new DropConnect(w, { p: 0.25, seed: 5 });
 * const wMasked = dc.forward();          // use in the layer's matmul
 * dc.backward(new Float64Array([1, 1, 1, 1]));  // w.grad += dWmasked ⊙ M
 * ```
 */
export class DropConnect {
  /** The weight. */
  readonly param: Parameter;
  /** Drop probability. */
  readonly p: number;
  /** Inverted scaling. */
  readonly inverted: boolean;
  /** Training mode (samples masks). */
  training = true;
  private readonly rng: Rng;
  private readonly maskBuffer: FloatArray;
  private readonly masked: FloatArray;

  constructor(param: Parameter, options: DropConnectOptions = {}) {
    const where = 'DropConnect';
    this.param = param;
    this.p = checkInRange(where, 'p', options.p ?? 0.5, 0, 1);
    this.inverted = checkBoolean(where, 'inverted', options.inverted ?? true);
    this.rng = new Rng(options.seed ?? 0);
    const Ctor = param.data instanceof Float64Array ? Float64Array : Float32Array;
    this.maskBuffer = new Ctor(param.size);
    this.masked = new Ctor(param.size);
  }

  /** The mask of the last forward. */
  get mask(): FloatArray {
    return this.maskBuffer;
  }

  /** Sample a mask (training) and return the masked weight buffer (owned by this object). */
  forward(): FloatArray {
    const w = this.param.data;
    const n = w.length;
    fillDropoutMask(this.maskBuffer, n, this.p, this.rng, { inverted: this.inverted, training: this.training });
    const m = this.maskBuffer;
    const out = this.masked;
    for (let i = 0; i < n; i++) out[i] = w[i]! * m[i]!;
    return out;
  }

  /** Add `gradMasked ⊙ M` into `param.grad` (allocated when `null`). */
  backward(gradMasked: FloatArray): void {
    dropoutBackward(gradMasked, this.maskBuffer, this.param.ensureGrad(), { accumulate: true });
  }

  /** The generator state (plain JSON). */
  stateDict(): { rng: RngState } {
    return { rng: this.rng.getState() };
  }

  /** Restore a state from {@link DropConnect.stateDict}. */
  loadStateDict(state: { rng: RngState }): void {
    if (typeof state !== 'object' || state === null) throw new StateDictError('DropConnect.loadStateDict: expected {rng}');
    this.rng.setState(state.rng);
  }
}

/** Options of {@link ShakeDrop}. */
export interface ShakeDropOptions {
  /** Survival probability `p_l` of the block (e.g. {@link linearDecaySurvival}`(l, L, 0.5)`; default 0.5). */
  survivalProb?: number;
  /** Range of the forward coefficient α (default [−1, 1]). */
  alphaRange?: readonly [number, number];
  /** Range of the backward coefficient β (default [0, 1]). */
  betaRange?: readonly [number, number];
  /** Seed of the {@link Rng} (default 0). */
  seed?: number;
}

/**
 * ShakeDrop (Yamada, Iwamura, Akiba & Kise 2018) on a residual branch
 * `F(x)` of shape `[N, ...]`, with per-sample ("image-level") coefficients:
 *
 * ```
 * training forward:   out_n = (b_n + α_n − b_n·α_n)·F(x)_n      b_n ~ Bernoulli(p_l), α_n ~ U(alphaRange)
 * training backward:  ∂L/∂F_n = (b_n + β_n − b_n·β_n)·∂L/∂out_n     β_n ~ U(betaRange)
 * evaluation:         out_n = E[b + α − bα]·F(x)_n = (p_l + (1 − p_l)·E[α])·F(x)_n
 * ```
 *
 * (`p_l` from the linear-decay rule with `p_L = 0.5`). The backward coefficient
 * deliberately differs from the forward one: that is the method. β is drawn
 * during the forward so the pair is fixed by the seed and the order of draws
 * (b, α, β per sample). Coefficient buffers are preallocated for `capacity`
 * samples.
 *
 * @example
 * ```ts
 * const sd = new ShakeDrop(8, { survivalProb: linearDecaySurvival(5, 10), seed: 2 });
 * sd.forward(fx, [8, 16], fx);        // gated branch, in place
 * sd.backward(dOut, [8, 16], dfx);    // gradient of the branch
 * ```
 */
export class ShakeDrop {
  /** Largest batch size. */
  readonly capacity: number;
  /** `p_l`. */
  readonly survivalProb: number;
  /** Range of the forward coefficient α. */
  readonly alphaRange: readonly [number, number];
  /** Range of the backward coefficient β. */
  readonly betaRange: readonly [number, number];
  /** Training mode (samples coefficients). */
  training = true;
  private readonly rng: Rng;
  private readonly forwardCoef: Float64Array;
  private readonly backwardCoef: Float64Array;
  private lastBatch = 0;

  constructor(capacity: number, options: ShakeDropOptions = {}) {
    const where = 'ShakeDrop';
    this.capacity = checkInteger(where, 'capacity', capacity, 0);
    this.survivalProb = checkInRange(where, 'survivalProb', options.survivalProb ?? 0.5, 0, 1);
    this.alphaRange = checkRange(where, 'alphaRange', options.alphaRange ?? [-1, 1]);
    this.betaRange = checkRange(where, 'betaRange', options.betaRange ?? [0, 1]);
    this.rng = new Rng(options.seed ?? 0);
    this.forwardCoef = new Float64Array(capacity);
    this.backwardCoef = new Float64Array(capacity);
  }

  /** Per-sample forward coefficients `b + α − bα` of the last forward. */
  get forwardCoefficients(): Float64Array {
    return this.forwardCoef.subarray(0, this.lastBatch);
  }

  /** Per-sample backward coefficients `b + β − bβ` of the last forward. */
  get backwardCoefficients(): Float64Array {
    return this.backwardCoef.subarray(0, this.lastBatch);
  }

  /** Sample coefficients (training) and write the scaled branch into `out` (may be `branch`). */
  forward<T extends FloatArray>(branch: FloatArray, shape: readonly number[], out: T): T {
    const where = 'ShakeDrop.forward';
    checkBuffer(where, 'branch', branch, branch.length);
    checkShape(where, 'branch', shape, branch.length, 1);
    checkBuffer(where, 'out', out, branch.length);
    const n = shape[0]!;
    if (n > this.capacity) throw new ShapeMismatchError(`${where}: batch of ${n} exceeds the capacity ${this.capacity}`);
    const pl = this.survivalProb;
    const [a0, a1] = this.alphaRange;
    const [b0, b1] = this.betaRange;
    const fc = this.forwardCoef;
    const bc = this.backwardCoef;
    if (this.training) {
      for (let i = 0; i < n; i++) {
        const b = this.rng.uniform32() < pl ? 1 : 0;
        const alpha = a0 + (a1 - a0) * this.rng.uniform();
        const beta = b0 + (b1 - b0) * this.rng.uniform();
        // b + α − bα is 1 when b = 1 and α when b = 0; selecting avoids 1 + α − α ≠ 1 round-off.
        fc[i] = b === 1 ? 1 : alpha;
        bc[i] = b === 1 ? 1 : beta;
      }
    } else {
      const mean = pl + (1 - pl) * 0.5 * (a0 + a1);
      fc.fill(mean, 0, n);
      bc.fill(mean, 0, n);
    }
    this.lastBatch = n;
    scaleRows(branch, n, n === 0 ? 0 : branch.length / n, fc, out, false);
    return out;
  }

  /** `gradIn_n = (b_n + β_n − b_n·β_n)·gradOut_n` with the last forward's draws. */
  backward<T extends FloatArray>(gradOut: FloatArray, shape: readonly number[], gradIn: T, options: BackwardOptions = {}): T {
    const where = 'ShakeDrop.backward';
    checkBuffer(where, 'gradOut', gradOut, gradOut.length);
    checkShape(where, 'gradOut', shape, gradOut.length, 1);
    checkBuffer(where, 'gradIn', gradIn, gradOut.length);
    const n = shape[0]!;
    if (n !== this.lastBatch) throw new ShapeMismatchError(`${where}: batch of ${n}, the last forward had ${this.lastBatch}`);
    scaleRows(gradOut, n, n === 0 ? 0 : gradOut.length / n, this.backwardCoef, gradIn, options.accumulate ?? false);
    return gradIn;
  }

  /** The generator state (plain JSON). */
  stateDict(): { rng: RngState } {
    return { rng: this.rng.getState() };
  }

  /** Restore a state from {@link ShakeDrop.stateDict}. */
  loadStateDict(state: { rng: RngState }): void {
    if (typeof state !== 'object' || state === null) throw new StateDictError('ShakeDrop.loadStateDict: expected {rng}');
    this.rng.setState(state.rng);
  }
}

function checkRange(where: string, option: string, value: unknown): readonly [number, number] {
  if (!Array.isArray(value) || value.length !== 2 || !Number.isFinite(value[0]) || !Number.isFinite(value[1]) || value[0] > value[1]) {
    throw new InvalidOptionError(option, value, 'a pair [low, high] of finite numbers with low <= high', where);
  }
  return [value[0] as number, value[1] as number];
}
