import { type FloatArray, type Parameter, ShapeMismatchError, axpy, zerosLike } from '@opt/tensor';
import { checkInRange } from '../validation.js';

/**
 * A hyper-parameter as a function of a step count (counted from 0), e.g. a
 * learning-rate schedule. Every transform evaluates its schedules at its own
 * step count, as optax does: the first update sees `schedule(0)`.
 */
export type Schedule = (step: number) => number;

/** A constant hyper-parameter or a {@link Schedule}; every numeric hyper-parameter of a transform accepts either. */
export type ScalarOrSchedule = number | Schedule;

/**
 * Which parameters a transform applies to: one boolean per parameter (aligned
 * with the parameter list), or a predicate of the parameter and its position.
 * The predicate runs once per parameter list, not once per step.
 */
export type MaskInput = readonly boolean[] | ((param: Parameter, index: number) => boolean);

/**
 * A gradient transformation in optax's shape, working in place on buffers:
 *
 * - `init(params)` returns the transform's state: plain data only (numbers,
 *   booleans, `null`, typed arrays, arrays and plain objects of those), so it
 *   can be checkpointed with {@link transformStateToJson};
 * - `update(updates, state, params)` rewrites `updates[i]` (aligned with
 *   `params[i]`, same length and dtype) and advances `state`, both in place.
 *
 * The final updates are *added* to the parameters by {@link applyUpdates}, so a
 * descent step ends with `scaleByLearningRate(lr)`, which multiplies by −lr.
 * After `init`, `update` allocates nothing.
 *
 * @typeParam S - the state's type.
 */
export interface GradientTransformation<S> {
  /** The fresh state for these parameters. */
  init(params: readonly Parameter[]): S;
  /** Transform `updates` in place and advance `state` in place. */
  update(updates: FloatArray[], state: S, params: readonly Parameter[]): void;
}

/** The state type of a transformation. */
export type StateOf<T> = T extends GradientTransformation<infer S> ? S : never;

/** State of a transform that has nothing to remember. */
export type EmptyState = Record<string, never>;

/** State of a transform whose only memory is its step count (to evaluate its schedules). */
export interface CountState {
  /** Number of updates done so far. */
  count: number;
}

/**
 * Resolve a {@link ScalarOrSchedule} hyper-parameter at a step.
 *
 * @param value - the constant or schedule.
 * @param step - the step count, from 0.
 */
export function valueAt(value: ScalarOrSchedule, step: number): number {
  return typeof value === 'function' ? value(step) : value;
}

/** An option check from `validation.ts`: returns the value or throws an `InvalidOptionError`. */
export type OptionCheck = (where: string, option: string, value: unknown) => number;

/**
 * Turn a hyper-parameter into a function of the step, checked once now when it
 * is a constant and at every evaluation when it is a schedule (so a schedule
 * that drifts out of range fails with the option's name, not with NaNs).
 * Built once per transform; calling it allocates nothing.
 */
export function hyperparameter(where: string, option: string, value: ScalarOrSchedule, check: OptionCheck): Schedule {
  if (typeof value === 'function') return (step) => check(where, option, value(step));
  const constant = check(where, option, value);
  return () => constant;
}

/**
 * An {@link OptionCheck} for a number in `[lo, hi]`, `[lo, hi)`, `(lo, hi]` or
 * `(lo, hi)`. It compares inline and defers to `checkInRange` only to word the
 * error, because a scheduled hyper-parameter is checked on every update and
 * `checkInRange` builds its comparison closures per call.
 */
export function rangeCheck(lo: number, hi: number, bounds: '[]' | '[)' | '(]' | '()' = '[]'): OptionCheck {
  const closedLo = bounds[0] === '[';
  const closedHi = bounds[1] === ']';
  return (where, option, value) => {
    if (typeof value === 'number') {
      const loOk = closedLo ? value >= lo : value > lo;
      const hiOk = closedHi ? value <= hi : value < hi;
      if (loOk && hiOk) return value;
    }
    return checkInRange(where, option, value, lo, hi, bounds);
  };
}

/** Zero-filled update buffers, one per parameter, with the parameter's length and dtype. */
export function createUpdates(params: readonly Parameter[]): FloatArray[] {
  return params.map((p) => zerosLike(p.data));
}

/**
 * Copy each parameter's gradient into its update buffer (a missing gradient
 * becomes zeros): the usual first move of a training step in the transform layer.
 */
export function copyGradients(params: readonly Parameter[], updates: FloatArray[]): void {
  checkAligned('copyGradients', params, updates);
  for (let i = 0; i < params.length; i++) {
    const g = params[i]!.grad;
    if (g === null) updates[i]!.fill(0);
    else updates[i]!.set(g);
  }
}

/**
 * Add the updates to the parameters, in place: `pᵢ ← pᵢ + uᵢ` (optax's
 * `apply_updates`; the sign of a descent step is in the updates).
 */
export function applyUpdates(params: readonly Parameter[], updates: readonly FloatArray[]): void {
  checkAligned('applyUpdates', params, updates);
  for (let i = 0; i < params.length; i++) axpy(params[i]!.data, 1, updates[i]!);
}

/** Throw a {@link ShapeMismatchError} unless `updates[i]` has `params[i]`'s length, for every i. */
export function checkAligned(where: string, params: readonly Parameter[], updates: readonly FloatArray[]): void {
  if (updates.length !== params.length) {
    throw new ShapeMismatchError(`${where}: got ${updates.length} update buffers for ${params.length} parameters`);
  }
  for (let i = 0; i < params.length; i++) {
    const p = params[i]!;
    const u = updates[i]!;
    if (u.length !== p.size) {
      throw new ShapeMismatchError(
        `${where}: update buffer ${i} has ${u.length} elements but parameter ${p.label(`#${i}`)} has ${p.size}`,
      );
    }
  }
}
