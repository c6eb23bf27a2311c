import { type FloatArray, zerosLike } from '@opt/tensor';
import { checkBoolean, checkFinite, checkNonNegative } from '../validation.js';
import { type GradientTransformation, type ScalarOrSchedule, hyperparameter, rangeCheck } from './types.js';

/** Options of {@link scaleByRms} and {@link scaleByStddev} (optax's names). */
export interface ScaleByRmsOptions {
  /** Decay rate of the moving averages, in [0, 1]. Default 0.9. */
  decay?: ScalarOrSchedule;
  /** Numerical stabiliser. Default 1e-8. */
  eps?: ScalarOrSchedule;
  /** Initial value of the moving averages of u² (optax `initial_scale`). Default 0. */
  initialScale?: number;
  /** Put eps inside the square root (`√(v + eps)`, optax's default) rather than outside (`√v + eps`, PyTorch's). Default true. */
  epsInSqrt?: boolean;
  /** Divide the averages by `1 − decayᵗ`. Default false. */
  biasCorrection?: boolean;
}

/** State of {@link scaleByRms}. */
export interface ScaleByRmsState {
  count: number;
  /** Moving average of u² (PyTorch's `square_avg`). */
  nu: FloatArray[];
}

/** State of {@link scaleByStddev}. */
export interface ScaleByStddevState {
  count: number;
  /** Moving average of u (PyTorch's `grad_avg`). */
  mu: FloatArray[];
  /** Moving average of u² (PyTorch's `square_avg`). */
  nu: FloatArray[];
}

interface RmsSettings {
  decayAt: (step: number) => number;
  epsAt: (step: number) => number;
  initialScale: number;
  epsInSqrt: boolean;
  biasCorrection: boolean;
}

function settings(where: string, o: ScaleByRmsOptions): RmsSettings {
  return {
    decayAt: hyperparameter(where, 'decay', o.decay ?? 0.9, rangeCheck(0, 1, '[]')),
    epsAt: hyperparameter(where, 'eps', o.eps ?? 1e-8, checkNonNegative),
    initialScale: checkFinite(where, 'initialScale', o.initialScale ?? 0),
    epsInSqrt: checkBoolean(where, 'epsInSqrt', o.epsInSqrt ?? true),
    biasCorrection: checkBoolean(where, 'biasCorrection', o.biasCorrection ?? false),
  };
}

/**
 * Divide updates by the root of a moving average of their squares (Tieleman &
 * Hinton's RMSProp; optax `scale_by_rms`), with t the step count after this update:
 *
 * ```
 * v ← decay·v + (1 − decay)·u²              (v starts at initialScale)
 * v̂ = v / (1 − decayᵗ) with biasCorrection, else v
 * u ← u / √(v̂ + eps)       (epsInSqrt, default)    or    u / (√v̂ + eps)
 * ```
 */
export function scaleByRms(options: ScaleByRmsOptions = {}): GradientTransformation<ScaleByRmsState> {
  const s = settings('scaleByRms', options);
  return {
    init: (params) => ({ count: 0, nu: params.map((p) => zerosLike(p.data).fill(s.initialScale)) }),
    update(updates, state) {
      const step = state.count;
      const decay = s.decayAt(step);
      const eps = s.epsAt(step);
      const t = step + 1;
      const correction = s.biasCorrection ? 1 - decay ** t : 1;
      for (let i = 0; i < updates.length; i++) {
        const u = updates[i]!;
        const v = state.nu[i]!;
        const c = 1 - decay;
        for (let j = 0; j < u.length; j++) {
          const g = u[j]!;
          v[j] = decay * v[j]! + c * (g * g);
          const vHat = v[j]! / correction;
          u[j] = g / (s.epsInSqrt ? Math.sqrt(vHat + eps) : Math.sqrt(vHat) + eps);
        }
      }
      state.count = t;
    },
  };
}

/**
 * Divide updates by a running estimate of their standard deviation (centered
 * RMSProp, Graves 2013; optax `scale_by_stddev`), with t the step count after this update:
 *
 * ```
 * m ← decay·m + (1 − decay)·u
 * v ← decay·v + (1 − decay)·u²             (v starts at initialScale)
 * (m̂, v̂) = (m, v) / (1 − decayᵗ) with biasCorrection
 * u ← u / √(v̂ − m̂² + eps)   (epsInSqrt, default)    or    u / (√(v̂ − m̂²) + eps)
 * ```
 */
export function scaleByStddev(options: ScaleByRmsOptions = {}): GradientTransformation<ScaleByStddevState> {
  const s = settings('scaleByStddev', options);
  return {
    init: (params) => ({
      count: 0,
      mu: params.map((p) => zerosLike(p.data)),
      nu: params.map((p) => zerosLike(p.data).fill(s.initialScale)),
    }),
    update(updates, state) {
      const step = state.count;
      const decay = s.decayAt(step);
      const eps = s.epsAt(step);
      const t = step + 1;
      const correction = s.biasCorrection ? 1 - decay ** t : 1;
      for (let i = 0; i < updates.length; i++) {
        const u = updates[i]!;
        const m = state.mu[i]!;
        const v = state.nu[i]!;
        const c = 1 - decay;
        for (let j = 0; j < u.length; j++) {
          const g = u[j]!;
          m[j] = decay * m[j]! + c * g;
          v[j] = decay * v[j]! + c * (g * g);
          const mHat = m[j]! / correction;
          const variance = v[j]! / correction - mHat * mHat;
          u[j] = g / (s.epsInSqrt ? Math.sqrt(variance + eps) : Math.sqrt(variance) + eps);
        }
      }
      state.count = t;
    },
  };
}
