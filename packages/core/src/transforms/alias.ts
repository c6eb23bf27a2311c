import { InvalidOptionError } from '@opt/tensor';
import { chain } from './combine.js';
import { type ScaleByAdamOptions, scaleByAdam } from './scale-by-adam.js';
import { scaleByLion } from './scale-by-lion.js';
import { type ScaleByRmsOptions, scaleByRms, scaleByStddev } from './scale-by-rms.js';
import { addDecayedWeights, identity, scaleByLearningRate } from './scale.js';
import { trace } from './trace.js';
import type { MaskInput, ScalarOrSchedule } from './types.js';

/** Options of the {@link adam} alias: those of {@link scaleByAdam}. */
export type AdamAliasOptions = ScaleByAdamOptions;

/**
 * Adam as a chain (optax `adam`): `chain(scaleByAdam(options), scaleByLearningRate(learningRate))`,
 *
 * ```
 * p ← p − lr · m̂ / (√(v̂ + epsRoot) + eps)
 * ```
 *
 * PyTorch's `Adam` (without weight decay) up to rounding.
 *
 * @param learningRate - a number ≥ 0 or a schedule.
 */
export function adam(learningRate: ScalarOrSchedule, options: AdamAliasOptions = {}) {
  return chain(scaleByAdam(options), scaleByLearningRate(learningRate));
}

/** Options of the {@link adamw} alias. */
export interface AdamwAliasOptions extends ScaleByAdamOptions {
  /** Decoupled weight decay. Default 1e-4 (optax's default; PyTorch's AdamW uses 1e-2). */
  weightDecay?: ScalarOrSchedule;
  /** The parameters that are decayed (default: all). */
  mask?: MaskInput;
}

/**
 * AdamW as a chain (optax `adamw`):
 * `chain(scaleByAdam, addDecayedWeights(weightDecay, { mask }), scaleByLearningRate(learningRate))`,
 *
 * ```
 * p ← p − lr · (m̂ / (√(v̂ + epsRoot) + eps) + weightDecay·p)
 * ```
 *
 * The decay is multiplied by lr, as in PyTorch's `AdamW` (`p ← p·(1 − lr·wd) − lr·adam`): equal up to rounding.
 *
 * @param learningRate - a number ≥ 0 or a schedule.
 */
export function adamw(learningRate: ScalarOrSchedule, options: AdamwAliasOptions = {}) {
  const { weightDecay = 1e-4, mask, ...adamOptions } = options;
  return chain(
    scaleByAdam(adamOptions),
    addDecayedWeights(weightDecay, mask === undefined ? {} : { mask }),
    scaleByLearningRate(learningRate),
  );
}

/** Options of the {@link sgd} alias. */
export interface SgdAliasOptions {
  /** Momentum μ (no momentum buffer when omitted). */
  momentum?: ScalarOrSchedule;
  /** Nesterov momentum (needs `momentum`). Default false. */
  nesterov?: boolean;
}

/**
 * SGD as a chain (optax `sgd`): `chain(trace({ decay: momentum, nesterov }), scaleByLearningRate(learningRate))`
 * (without `trace` when there is no momentum),
 *
 * ```
 * b ← g + μ·b;   p ← p − lr · (nesterov ? g + μ·b : b)
 * ```
 *
 * PyTorch's `SGD` with zero dampening and weight decay, bit for bit in float64.
 *
 * @param learningRate - a number ≥ 0 or a schedule.
 */
export function sgd(learningRate: ScalarOrSchedule, options: SgdAliasOptions = {}) {
  const { momentum, nesterov = false } = options;
  if (nesterov && momentum === undefined) {
    throw new InvalidOptionError('nesterov', true, 'momentum to be given when nesterov is true', 'sgd');
  }
  return chain(momentum === undefined ? identity() : trace({ decay: momentum, nesterov }), scaleByLearningRate(learningRate));
}

/** Options of the {@link lion} alias. */
export interface LionAliasOptions {
  /** Interpolation weight of the momentum in the update direction. Default 0.9. */
  b1?: ScalarOrSchedule;
  /** Decay rate of the momentum. Default 0.99. */
  b2?: ScalarOrSchedule;
  /** Decoupled weight decay. Default 1e-3 (optax's default). */
  weightDecay?: ScalarOrSchedule;
  /** The parameters that are decayed (default: all). */
  mask?: MaskInput;
}

/**
 * Lion as a chain (optax `lion`):
 * `chain(scaleByLion({ b1, b2 }), addDecayedWeights(weightDecay, { mask }), scaleByLearningRate(learningRate))`,
 *
 * ```
 * p ← p − lr · (sign(b1·m + (1 − b1)·g) + weightDecay·p);   m ← b2·m + (1 − b2)·g
 * ```
 *
 * @param learningRate - a number ≥ 0 or a schedule.
 */
export function lion(learningRate: ScalarOrSchedule, options: LionAliasOptions = {}) {
  const { weightDecay = 1e-3, mask, b1, b2 } = options;
  return chain(
    scaleByLion({ b1: b1 ?? 0.9, b2: b2 ?? 0.99 }),
    addDecayedWeights(weightDecay, mask === undefined ? {} : { mask }),
    scaleByLearningRate(learningRate),
  );
}

/** Options of the {@link rmsprop} alias. */
export interface RmspropAliasOptions extends ScaleByRmsOptions {
  /** Divide by the running standard deviation instead of the root mean square. Default false. */
  centered?: boolean;
  /** Momentum applied after the learning rate (no momentum buffer when omitted). */
  momentum?: ScalarOrSchedule;
  /** Nesterov momentum (needs `momentum`). Default false. */
  nesterov?: boolean;
}

/**
 * RMSProp as a chain (optax `rmsprop`):
 * `chain(centered ? scaleByStddev : scaleByRms, scaleByLearningRate(learningRate), trace({ decay: momentum, nesterov }))`,
 *
 * ```
 * v ← decay·v + (1 − decay)·g²;   b ← −lr·g/√(v + eps) + μ·b;   p ← p + b
 * ```
 *
 * With `epsInSqrt: false` this is PyTorch's `RMSprop` (alpha = decay, eps outside the root) up to rounding.
 *
 * @param learningRate - a number ≥ 0 or a schedule.
 */
export function rmsprop(learningRate: ScalarOrSchedule, options: RmspropAliasOptions = {}) {
  const { centered = false, momentum, nesterov = false, ...rmsOptions } = options;
  if (nesterov && momentum === undefined) {
    throw new InvalidOptionError('nesterov', true, 'momentum to be given when nesterov is true', 'rmsprop');
  }
  return chain(
    centered ? scaleByStddev(rmsOptions) : scaleByRms(rmsOptions),
    scaleByLearningRate(learningRate),
    momentum === undefined ? identity() : trace({ decay: momentum, nesterov }),
  );
}
