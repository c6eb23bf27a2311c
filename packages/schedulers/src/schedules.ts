/**
 * Schedules as pure functions of the step count (optax's shape): each returns a
 * {@link Schedule} `(step) => value`, usable directly by `@opt/core`'s gradient
 * transformations, as a multiplier in LambdaLR, or by HyperparameterScheduler.
 */
import { InvalidOptionError, type Schedule, checkBoolean, checkFinite, checkNonNegative, checkOneOf, checkPositive } from '@opt/core';

/**
 * A constant.
 *
 * @example
 * ```ts
 * import { constantSchedule } from '@opt/schedulers';
 * console.log(constantSchedule(0.1)(1000)); // 0.1
 * ```
 */
export function constantSchedule(value: number): Schedule {
  const v = checkFinite('constantSchedule', 'value', value);
  return () => v;
}

/** Options of {@link polynomialSchedule}. */
export interface PolynomialScheduleOptions {
  /** Value before and at `transitionBegin`. */
  initValue: number;
  /** Value from `transitionBegin + transitionSteps` on. */
  endValue: number;
  /** Power of the polynomial (1: linear). */
  power: number;
  /** Length of the transition (> 0). */
  transitionSteps: number;
  /** Step at which the transition starts. Default 0. */
  transitionBegin?: number;
}

/**
 * Polynomial interpolation from `initValue` to `endValue` (optax's `polynomial_schedule`):
 *
 * ```
 * k = clamp(step − transitionBegin, 0, transitionSteps)
 * value = (init − end)·(1 − k/transitionSteps)^power + end
 * ```
 *
 * @example
 * ```ts
 * import { polynomialSchedule } from '@opt/schedulers';
 * const s = polynomialSchedule({ initValue: 1, endValue: 0, power: 2, transitionSteps: 10 });
 * console.log(s(5)); // 0.25
 * ```
 */
export function polynomialSchedule(options: PolynomialScheduleOptions): Schedule {
  const where = 'polynomialSchedule';
  const init = checkFinite(where, 'initValue', options.initValue);
  const end = checkFinite(where, 'endValue', options.endValue);
  const power = checkFinite(where, 'power', options.power);
  const steps = checkPositive(where, 'transitionSteps', options.transitionSteps);
  const begin = checkFinite(where, 'transitionBegin', options.transitionBegin ?? 0);
  return (step) => {
    const k = Math.min(Math.max(step - begin, 0), steps);
    return (init - end) * (1 - k / steps) ** power + end;
  };
}

/** Options of {@link linearSchedule}. */
export interface LinearScheduleOptions {
  /** Value before and at `transitionBegin`. */
  initValue: number;
  /** Value from `transitionBegin + transitionSteps` on. */
  endValue: number;
  /** Length of the transition (> 0). */
  transitionSteps: number;
  /** Step at which the transition starts. Default 0. */
  transitionBegin?: number;
}

/**
 * Linear interpolation from `initValue` to `endValue` over `transitionSteps`
 * (optax's `linear_schedule`; the polynomial schedule with power 1).
 *
 * @example
 * ```ts
 * import { linearSchedule } from '@opt/schedulers';
 * console.log(linearSchedule({ initValue: 0, endValue: 1, transitionSteps: 4 })(1)); // 0.25
 * ```
 */
export function linearSchedule(options: LinearScheduleOptions): Schedule {
  return polynomialSchedule({ ...options, power: 1 });
}

/** Options of {@link cosineDecaySchedule}. */
export interface CosineDecayScheduleOptions {
  /** Value at step 0. */
  initValue: number;
  /** Length of the decay (> 0). */
  decaySteps: number;
  /** Final value as a fraction of `initValue`. Default 0. */
  alpha?: number;
  /** Power of the cosine factor. Default 1. */
  exponent?: number;
}

/**
 * Cosine decay (Loshchilov & Hutter, 2017; optax's `cosine_decay_schedule`):
 *
 * ```
 * k = clamp(step, 0, decaySteps)
 * value = init·((1 − α)·(½(1 + cos(πk/decaySteps)))^exponent + α)
 * ```
 *
 * @example
 * ```ts
 * import { cosineDecaySchedule } from '@opt/schedulers';
 * console.log(cosineDecaySchedule({ initValue: 1, decaySteps: 10 })(5)); // 0.5 (up to rounding)
 * ```
 */
export function cosineDecaySchedule(options: CosineDecayScheduleOptions): Schedule {
  const where = 'cosineDecaySchedule';
  const init = checkFinite(where, 'initValue', options.initValue);
  const steps = checkPositive(where, 'decaySteps', options.decaySteps);
  const alpha = checkFinite(where, 'alpha', options.alpha ?? 0);
  const exponent = checkFinite(where, 'exponent', options.exponent ?? 1);
  return (step) => {
    const k = Math.min(Math.max(step, 0), steps);
    const cosine = 0.5 * (1 + Math.cos((Math.PI * k) / steps));
    return init * ((1 - alpha) * cosine ** exponent + alpha);
  };
}

/** Options of {@link exponentialDecay}. */
export interface ExponentialDecayOptions {
  /** Value before and at `transitionBegin`. */
  initValue: number;
  /** Steps over which the value is multiplied by `decayRate` once (> 0). */
  transitionSteps: number;
  /** The factor per `transitionSteps` (> 0). */
  decayRate: number;
  /** Step at which the decay starts. Default 0. */
  transitionBegin?: number;
  /** Decay in discrete jumps every `transitionSteps`. Default false. */
  staircase?: boolean;
  /** Bound of the value: a floor when decaying, a ceiling when growing. Default none. */
  endValue?: number;
}

/**
 * Exponential decay (optax's `exponential_decay`):
 *
 * ```
 * k = step − transitionBegin
 * p = k/transitionSteps  (⌊·⌋ if staircase)
 * value = k ≤ 0 ? init : init·decayRate^p, then bounded by endValue
 * ```
 *
 * @example
 * ```ts
 * import { exponentialDecay } from '@opt/schedulers';
 * console.log(exponentialDecay({ initValue: 1, transitionSteps: 10, decayRate: 0.5 })(20)); // 0.25
 * ```
 */
export function exponentialDecay(options: ExponentialDecayOptions): Schedule {
  const where = 'exponentialDecay';
  const init = checkFinite(where, 'initValue', options.initValue);
  const steps = checkPositive(where, 'transitionSteps', options.transitionSteps);
  const rate = checkPositive(where, 'decayRate', options.decayRate);
  const begin = checkFinite(where, 'transitionBegin', options.transitionBegin ?? 0);
  const staircase = checkBoolean(where, 'staircase', options.staircase ?? false);
  const end = options.endValue === undefined ? undefined : checkFinite(where, 'endValue', options.endValue);
  return (step) => {
    const k = step - begin;
    let p = k / steps;
    if (staircase) p = Math.floor(p);
    let value = k <= 0 ? init : init * rate ** p;
    if (end !== undefined) value = rate < 1 ? Math.max(value, end) : Math.min(value, end);
    return value;
  };
}

/** Options of {@link piecewiseConstantSchedule}. */
export interface PiecewiseConstantScheduleOptions {
  /** Value before the first boundary. */
  initValue: number;
  /** Boundaries and the factor applied once the step passes each (`{ 100: 0.1, 200: 0.1 }` or pairs). */
  boundariesAndScales: Readonly<Record<number, number>> | ReadonlyArray<readonly [number, number]>;
}

/**
 * Piecewise constant (optax's `piecewise_constant_schedule`): `initValue` times
 * the product of the scales of every boundary b with `b < step`.
 *
 * @example
 * ```ts
 * import { piecewiseConstantSchedule } from '@opt/schedulers';
 * const s = piecewiseConstantSchedule({ initValue: 1, boundariesAndScales: { 10: 0.1, 20: 0.5 } });
 * console.log(s(10), s(11), s(25)); // 1 0.1 0.05 (up to rounding)
 * ```
 */
export function piecewiseConstantSchedule(options: PiecewiseConstantScheduleOptions): Schedule {
  const where = 'piecewiseConstantSchedule';
  const init = checkFinite(where, 'initValue', options.initValue);
  const raw = options.boundariesAndScales;
  const pairs: Array<[number, number]> = Array.isArray(raw)
    ? (raw as ReadonlyArray<readonly [number, number]>).map(([b, s]) => [b, s])
    : Object.entries(raw as Record<string, number>).map(([b, s]) => [Number(b), s]);
  pairs.forEach(([b, s]) => {
    checkFinite(where, 'boundariesAndScales (boundary)', b);
    checkNonNegative(where, `boundariesAndScales[${b}]`, s);
  });
  pairs.sort((a, b) => a[0] - b[0]);
  const boundaries = pairs.map((p) => p[0]);
  const scales = pairs.map((p) => p[1]);
  return (step) => {
    let v = init;
    for (let i = 0; i < boundaries.length && boundaries[i]! < step; i++) v *= scales[i]!;
    return v;
  };
}

/**
 * Join schedules at boundaries (optax's `join_schedules`): schedule i + 1 takes
 * over at `boundaries[i]` and receives the steps counted from that boundary.
 *
 * ```
 * value(step) = schedules[i](step − boundaries[i − 1])   for boundaries[i − 1] ≤ step < boundaries[i]
 * ```
 *
 * @example
 * ```ts
 * import { constantSchedule, joinSchedules, linearSchedule } from '@opt/schedulers';
 * const s = joinSchedules([linearSchedule({ initValue: 0, endValue: 1, transitionSteps: 10 }), constantSchedule(1)], [10]);
 * console.log(s(5), s(50)); // 0.5 1
 * ```
 */
export function joinSchedules(schedules: readonly Schedule[], boundaries: readonly number[]): Schedule {
  const where = 'joinSchedules';
  if (!Array.isArray(schedules) || schedules.length === 0 || schedules.some((s) => typeof s !== 'function')) {
    throw new InvalidOptionError('schedules', schedules, 'a non-empty list of schedule functions', where);
  }
  if (!Array.isArray(boundaries) || boundaries.length !== schedules.length - 1) {
    throw new InvalidOptionError('boundaries', boundaries, `${schedules.length - 1} step(s), one fewer than schedules`, where);
  }
  boundaries.forEach((b, i) => {
    checkFinite(where, `boundaries[${i}]`, b);
    if (i > 0 && b < boundaries[i - 1]!) throw new InvalidOptionError('boundaries', boundaries, 'non-decreasing steps', where);
  });
  const list = [...schedules];
  const bounds = [...boundaries];
  return (step) => {
    let i = 0;
    while (i < bounds.length && step >= bounds[i]!) i++;
    return list[i]!(i === 0 ? step : step - bounds[i - 1]!);
  };
}

/** Options of {@link warmupCosineDecaySchedule}. */
export interface WarmupCosineDecayScheduleOptions {
  /** Value at step 0. */
  initValue: number;
  /** Value at the end of the warm-up. */
  peakValue: number;
  /** Steps of the linear warm-up (≥ 0). */
  warmupSteps: number;
  /** Total steps, warm-up included (> warmupSteps). */
  decaySteps: number;
  /** Value at `decaySteps` and after. Default 0. */
  endValue?: number;
  /** Power of the cosine factor. Default 1. */
  exponent?: number;
}

/**
 * Linear warm-up then cosine decay (optax's `warmup_cosine_decay_schedule`):
 *
 * ```
 * step < W:  init + (peak − init)·step/W
 * else:      end + (peak − end)·(½(1 + cos(π·min(step − W, D − W)/(D − W))))^exponent
 * ```
 *
 * @example
 * ```ts
 * import { warmupCosineDecaySchedule } from '@opt/schedulers';
 * const s = warmupCosineDecaySchedule({ initValue: 0, peakValue: 1e-3, warmupSteps: 100, decaySteps: 1000 });
 * console.log(s(50), s(100), s(1000)); // 0.0005 0.001 0
 * ```
 */
export function warmupCosineDecaySchedule(options: WarmupCosineDecayScheduleOptions): Schedule {
  const where = 'warmupCosineDecaySchedule';
  const init = checkFinite(where, 'initValue', options.initValue);
  const peak = checkFinite(where, 'peakValue', options.peakValue);
  const warmup = checkNonNegative(where, 'warmupSteps', options.warmupSteps);
  const decay = checkFinite(where, 'decaySteps', options.decaySteps);
  if (decay <= warmup) throw new InvalidOptionError('decaySteps', decay, `a number > warmupSteps (${warmup})`, where);
  const end = checkFinite(where, 'endValue', options.endValue ?? 0);
  const alpha = peak === 0 ? 0 : end / peak;
  const cosine = cosineDecaySchedule({ initValue: peak, decaySteps: decay - warmup, alpha, exponent: options.exponent ?? 1 });
  if (warmup === 0) return cosine;
  return joinSchedules([linearSchedule({ initValue: init, endValue: peak, transitionSteps: warmup }), cosine], [warmup]);
}

/** Options of {@link warmupConstant}. */
export interface WarmupConstantOptions {
  /** Value at step 0. Default 0. */
  initValue?: number;
  /** Value from the end of the warm-up on. */
  peakValue: number;
  /** Steps of the linear warm-up (≥ 0). */
  warmupSteps: number;
}

/**
 * Linear warm-up to `peakValue`, then constant.
 *
 * @example
 * ```ts
 * import { warmupConstant } from '@opt/schedulers';
 * console.log(warmupConstant({ peakValue: 1, warmupSteps: 4 })(2)); // 0.5
 * ```
 */
export function warmupConstant(options: WarmupConstantOptions): Schedule {
  const where = 'warmupConstant';
  const init = checkFinite(where, 'initValue', options.initValue ?? 0);
  const peak = checkFinite(where, 'peakValue', options.peakValue);
  const warmup = checkNonNegative(where, 'warmupSteps', options.warmupSteps);
  return (step) => (step < warmup ? init + ((peak - init) * Math.max(step, 0)) / warmup : peak);
}

/** Options of {@link inverseSqrtSchedule}. */
export interface InverseSqrtScheduleOptions {
  /** Value at the end of the warm-up. */
  peakValue: number;
  /** Steps of the linear warm-up (> 0); also the time scale of the decay. */
  warmupSteps: number;
  /** Value at step 0. Default 0. */
  initValue?: number;
}

/**
 * The Transformer schedule (Vaswani et al., 2017; fairseq's `inverse_sqrt`):
 * linear warm-up, then decay with the inverse square root of the step.
 *
 * ```
 * step < W:  init + (peak − init)·step/W
 * else:      peak·√(W/step)
 * ```
 *
 * @example
 * ```ts
 * import { inverseSqrtSchedule } from '@opt/schedulers';
 * console.log(inverseSqrtSchedule({ peakValue: 1, warmupSteps: 100 })(400)); // 0.5
 * ```
 */
export function inverseSqrtSchedule(options: InverseSqrtScheduleOptions): Schedule {
  const where = 'inverseSqrtSchedule';
  const peak = checkFinite(where, 'peakValue', options.peakValue);
  const warmup = checkPositive(where, 'warmupSteps', options.warmupSteps);
  const init = checkFinite(where, 'initValue', options.initValue ?? 0);
  return (step) => (step < warmup ? init + ((peak - init) * Math.max(step, 0)) / warmup : peak * Math.sqrt(warmup / step));
}

/** Decay shapes of the warm-up–stable–decay schedule. */
export type WsdDecayShape = 'linear' | 'cosine' | '1-sqrt';

/** Options of {@link wsdSchedule}. */
export interface WsdScheduleOptions {
  /** Value of the stable phase. */
  peakValue: number;
  /** Steps of the linear warm-up (≥ 0). */
  warmupSteps: number;
  /** Steps at the peak (≥ 0). */
  stableSteps: number;
  /** Steps of the final decay (> 0). */
  decaySteps: number;
  /** Value at step 0. Default 0. */
  initValue?: number;
  /** Value at the end of the decay and after. Default 0. */
  endValue?: number;
  /** Shape of the decay. Default `'linear'`. */
  decayShape?: WsdDecayShape;
}

/**
 * Warm-up–stable–decay (Hu et al., 2024, MiniCPM; Hägele et al., 2024): a linear
 * warm-up, a long constant phase, then a short decay, so a run can be extended
 * from any point of the stable phase. With p = clamp((step − W − S)/D, 0, 1):
 *
 * ```
 * step < W:      init + (peak − init)·step/W
 * step < W + S:  peak
 * else:          end + (peak − end)·d(p),  d = 1 − p (linear), (1 + cos πp)/2 (cosine), 1 − √p ('1-sqrt')
 * ```
 *
 * @example
 * ```ts
 * import { wsdSchedule } from '@opt/schedulers';
 * const s = wsdSchedule({ peakValue: 1, warmupSteps: 10, stableSteps: 80, decaySteps: 10 });
 * console.log(s(5), s(50), s(95), s(100)); // 0.5 1 0.5 0
 * ```
 */
export function wsdSchedule(options: WsdScheduleOptions): Schedule {
  const where = 'wsdSchedule';
  const peak = checkFinite(where, 'peakValue', options.peakValue);
  const warmup = checkNonNegative(where, 'warmupSteps', options.warmupSteps);
  const stable = checkNonNegative(where, 'stableSteps', options.stableSteps);
  const decay = checkPositive(where, 'decaySteps', options.decaySteps);
  const init = checkFinite(where, 'initValue', options.initValue ?? 0);
  const end = checkFinite(where, 'endValue', options.endValue ?? 0);
  const shape = checkOneOf(where, 'decayShape', options.decayShape ?? 'linear', ['linear', 'cosine', '1-sqrt'] as const);
  const decayStart = warmup + stable;
  return (step) => {
    if (step < warmup) return init + ((peak - init) * Math.max(step, 0)) / warmup;
    if (step < decayStart) return peak;
    const p = Math.min(1, (step - decayStart) / decay);
    const d = shape === 'linear' ? 1 - p : shape === 'cosine' ? (1 + Math.cos(Math.PI * p)) / 2 : 1 - Math.sqrt(p);
    return end + (peak - end) * d;
  };
}

/**
 * SGDR as a schedule (optax's `sgdr_schedule`): warm-up–cosine cycles joined
 * end to end, each cycle lasting its own `decaySteps`.
 *
 * @example
 * ```ts
 * import { sgdrSchedule } from '@opt/schedulers';
 * const cycle = { initValue: 0, peakValue: 1, warmupSteps: 2, decaySteps: 10 };
 * const s = sgdrSchedule([cycle, cycle]);
 * console.log(s(1), s(11)); // 0.5 0.5
 * ```
 */
export function sgdrSchedule(cycles: readonly WarmupCosineDecayScheduleOptions[]): Schedule {
  if (!Array.isArray(cycles) || cycles.length === 0) {
    throw new InvalidOptionError('cycles', cycles, 'a non-empty list of warm-up cosine options', 'sgdrSchedule');
  }
  const schedules = cycles.map((c) => warmupCosineDecaySchedule(c));
  const boundaries: number[] = [];
  let step = 0;
  for (const c of cycles.slice(0, -1)) {
    step += c.decaySteps;
    boundaries.push(step);
  }
  return joinSchedules(schedules, boundaries);
}
