import { type FloatArray, type Parameter, axpy, scaleInPlace } from '@opt/tensor';
import { checkFinite, checkNonNegative } from '../validation.js';
import { maskCache } from './subsets.js';
import {
  type CountState,
  type EmptyState,
  type GradientTransformation,
  type MaskInput,
  type ScalarOrSchedule,
  hyperparameter,
} from './types.js';

/** The transform that leaves updates unchanged (optax `identity`). */
export function identity(): GradientTransformation<EmptyState> {
  return {
    init: () => ({}),
    update: () => {},
  };
}

/**
 * Set every update to zero: `u ← 0` (optax `set_to_zero`). Paired with
 * {@link partition}, it freezes the parameters given its label.
 */
export function setToZero(): GradientTransformation<EmptyState> {
  return {
    init: () => ({}),
    update(updates) {
      for (let i = 0; i < updates.length; i++) updates[i]!.fill(0);
    },
  };
}

/**
 * Multiply every update by a factor: `u ← factor·u` (optax `scale`, or
 * `scale_by_schedule` when `factor` is a schedule of the step count).
 *
 * @param factor - a finite number, or a schedule of this transform's step count.
 */
export function scale(factor: ScalarOrSchedule): GradientTransformation<CountState> {
  const factorAt = hyperparameter('scale', 'factor', factor, checkFinite);
  return {
    init: () => ({ count: 0 }),
    update(updates, state) {
      const a = factorAt(state.count);
      for (let i = 0; i < updates.length; i++) scaleInPlace(updates[i]!, a);
      state.count++;
    },
  };
}

/** Options of {@link scaleByLearningRate}. */
export interface ScaleByLearningRateOptions {
  /** Multiply by −lr (descent, the default) rather than +lr. */
  flipSign?: boolean;
}

/**
 * Scale updates by the learning rate with the descent sign: `u ← −lr·u`
 * (optax `scale_by_learning_rate`), the last link of every descent chain, since
 * {@link applyUpdates} adds the updates to the parameters.
 *
 * @param learningRate - a finite number ≥ 0, or a schedule of this transform's step count.
 */
export function scaleByLearningRate(
  learningRate: ScalarOrSchedule,
  options: ScaleByLearningRateOptions = {},
): GradientTransformation<CountState> {
  const lrAt = hyperparameter('scaleByLearningRate', 'learningRate', learningRate, checkNonNegative);
  const sign = options.flipSign === false ? 1 : -1;
  return {
    init: () => ({ count: 0 }),
    update(updates, state) {
      const a = sign * lrAt(state.count);
      for (let i = 0; i < updates.length; i++) scaleInPlace(updates[i]!, a);
      state.count++;
    },
  };
}

/** Replace each update by its sign: `u ← sign(u)` (0 stays 0, NaN stays NaN; optax `scale_by_sign`). */
export function scaleBySign(): GradientTransformation<EmptyState> {
  return {
    init: () => ({}),
    update(updates) {
      for (let i = 0; i < updates.length; i++) {
        const u = updates[i]!;
        for (let j = 0; j < u.length; j++) u[j] = Math.sign(u[j]!);
      }
    },
  };
}

/** Options of {@link addDecayedWeights}. */
export interface AddDecayedWeightsOptions {
  /** The parameters that are decayed (default: all); e.g. `(p) => p.shape.length > 1` spares biases and norms. */
  mask?: MaskInput;
}

/**
 * Add decoupled weight decay to the updates: `u ← u + weightDecay·p` (optax
 * `add_decayed_weights`). Placed before `scaleByLearningRate(lr)` it gives
 * AdamW's `p ← p − lr·(u + weightDecay·p)`.
 *
 * @param weightDecay - a finite number ≥ 0, or a schedule of this transform's step count.
 */
export function addDecayedWeights(
  weightDecay: ScalarOrSchedule,
  options: AddDecayedWeightsOptions = {},
): GradientTransformation<CountState> {
  const wdAt = hyperparameter('addDecayedWeights', 'weightDecay', weightDecay, checkNonNegative);
  const cache = options.mask === undefined ? null : maskCache('addDecayedWeights', options.mask);
  return {
    init(params) {
      cache?.subsetsFor(params);
      return { count: 0 };
    },
    update(updates, state, params) {
      const wd = wdAt(state.count);
      state.count++;
      if (wd === 0) return;
      if (cache === null) {
        for (let i = 0; i < params.length; i++) axpy(updates[i]!, wd, params[i]!.data);
        return;
      }
      const indices = cache.subsetsFor(params)[0]!.indices;
      for (let k = 0; k < indices.length; k++) {
        const i = indices[k]!;
        axpy(updates[i]!, wd, params[i]!.data);
      }
    },
  };
}

/**
 * Gradient centralization (Yong et al., 2020; optax `centralize`): for a
 * parameter with two or more dimensions, subtract from each slice along the
 * first axis its mean, `u[r, …] ← u[r, …] − mean(u[r, …])`; vectors and
 * scalars are left alone.
 */
export function centralize(): GradientTransformation<EmptyState> {
  return {
    init: () => ({}),
    update(updates, _state, params) {
      for (let i = 0; i < params.length; i++) {
        const p: Parameter = params[i]!;
        if (p.shape.length < 2) continue;
        centralizeRows(updates[i]!, p.shape[0]!);
      }
    },
  };
}

function centralizeRows(u: FloatArray, rows: number): void {
  if (rows === 0 || u.length === 0) return;
  const cols = u.length / rows;
  for (let r = 0; r < rows; r++) {
    const start = r * cols;
    let sum = 0;
    for (let j = start; j < start + cols; j++) sum += u[j]!;
    const mean = sum / cols;
    for (let j = start; j < start + cols; j++) u[j] = u[j]! - mean;
  }
}
