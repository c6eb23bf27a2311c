import { type FloatArray, zerosLike } from '@opt/tensor';
import { checkNonNegative } from '../validation.js';
import { type GradientTransformation, type ScalarOrSchedule, hyperparameter, rangeCheck } from './types.js';

const unitInterval = rangeCheck(0, 1, '[)');

/** Options of {@link scaleByAdam} (optax's names). */
export interface ScaleByAdamOptions {
  /** Decay rate of the first moment, in [0, 1). Default 0.9. */
  b1?: ScalarOrSchedule;
  /** Decay rate of the second moment, in [0, 1). Default 0.999. */
  b2?: ScalarOrSchedule;
  /** Added to the root of the bias-corrected second moment. Default 1e-8. */
  eps?: ScalarOrSchedule;
  /** Added to the bias-corrected second moment inside the root. Default 0. */
  epsRoot?: ScalarOrSchedule;
}

/** State of {@link scaleByAdam}: the step count and the two moments, one buffer per parameter. */
export interface ScaleByAdamState {
  count: number;
  /** First moment estimates (PyTorch's `exp_avg`). */
  mu: FloatArray[];
  /** Second moment estimates (PyTorch's `exp_avg_sq`). */
  nu: FloatArray[];
}

/**
 * Rescale updates by Adam's moment estimates (Kingma & Ba, 2015; optax
 * `scale_by_adam`), with t the step count after this update:
 *
 * ```
 * m ← b1·m + (1 − b1)·u
 * v ← b2·v + (1 − b2)·u²
 * u ← (m / (1 − b1ᵗ)) / (sqrt(v / (1 − b2ᵗ) + epsRoot) + eps)
 * ```
 *
 * Followed by `scaleByLearningRate(lr)` it is PyTorch's Adam up to rounding
 * (`√(v/c)` here against `√v/√c` there).
 */
export function scaleByAdam(options: ScaleByAdamOptions = {}): GradientTransformation<ScaleByAdamState> {
  const where = 'scaleByAdam';
  const b1At = hyperparameter(where, 'b1', options.b1 ?? 0.9, unitInterval);
  const b2At = hyperparameter(where, 'b2', options.b2 ?? 0.999, unitInterval);
  const epsAt = hyperparameter(where, 'eps', options.eps ?? 1e-8, checkNonNegative);
  const epsRootAt = hyperparameter(where, 'epsRoot', options.epsRoot ?? 0, checkNonNegative);
  return {
    init: (params) => ({ count: 0, mu: params.map((p) => zerosLike(p.data)), nu: params.map((p) => zerosLike(p.data)) }),
    update(updates, state) {
      const step = state.count;
      const b1 = b1At(step);
      const b2 = b2At(step);
      const eps = epsAt(step);
      const epsRoot = epsRootAt(step);
      const t = step + 1;
      const bc1 = 1 - b1 ** t;
      const bc2 = 1 - b2 ** t;
      for (let i = 0; i < updates.length; i++) {
        adamMoments(updates[i]!, state.mu[i]!, state.nu[i]!, b1, b2, bc1, bc2, eps, epsRoot);
      }
      state.count = t;
    },
  };
}

/** The element loop of {@link scaleByAdam}: one fused pass over u, m and v. */
function adamMoments(
  u: FloatArray,
  m: FloatArray,
  v: FloatArray,
  b1: number,
  b2: number,
  bc1: number,
  bc2: number,
  eps: number,
  epsRoot: number,
): void {
  const c1 = 1 - b1;
  const c2 = 1 - b2;
  for (let j = 0; j < u.length; j++) {
    const g = u[j]!;
    m[j] = b1 * m[j]! + c1 * g;
    v[j] = b2 * v[j]! + c2 * (g * g);
    u[j] = m[j]! / bc1 / (Math.sqrt(v[j]! / bc2 + epsRoot) + eps);
  }
}
