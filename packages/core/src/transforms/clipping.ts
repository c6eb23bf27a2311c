import { scaleInPlace, sumOfSquares } from '@opt/tensor';
import { checkNonNegative, checkPositive } from '../validation.js';
import { type CountState, type GradientTransformation, type ScalarOrSchedule, hyperparameter } from './types.js';

/**
 * Clip every update element to `[−maxDelta, maxDelta]` (optax `clip`; NaN stays NaN).
 *
 * @param maxDelta - a finite number ≥ 0, or a schedule of this transform's step count.
 */
export function clip(maxDelta: ScalarOrSchedule): GradientTransformation<CountState> {
  const maxAt = hyperparameter('clip', 'maxDelta', maxDelta, checkNonNegative);
  return {
    init: () => ({ count: 0 }),
    update(updates, state) {
      const hi = maxAt(state.count);
      const lo = -hi;
      for (let i = 0; i < updates.length; i++) {
        const u = updates[i]!;
        for (let j = 0; j < u.length; j++) {
          const x = u[j]!;
          if (x > hi) u[j] = hi;
          else if (x < lo) u[j] = lo;
        }
      }
      state.count++;
    },
  };
}

/**
 * Rescale all updates together so their global L2 norm is at most `maxNorm`
 * (optax `clip_by_global_norm`):
 *
 * ```
 * n = sqrt(Σᵢ ‖uᵢ‖²)          (accumulated in float64)
 * u ← u                  if n < maxNorm
 * u ← u · maxNorm / n    otherwise
 * ```
 *
 * A non-finite norm makes every update NaN, as in optax: {@link applyIfFinite} catches it.
 *
 * @param maxNorm - a finite number > 0, or a schedule of this transform's step count.
 */
export function clipByGlobalNorm(maxNorm: ScalarOrSchedule): GradientTransformation<CountState> {
  const maxAt = hyperparameter('clipByGlobalNorm', 'maxNorm', maxNorm, checkPositive);
  return {
    init: () => ({ count: 0 }),
    update(updates, state) {
      const max = maxAt(state.count);
      state.count++;
      let sq = 0;
      for (let i = 0; i < updates.length; i++) sq += sumOfSquares(updates[i]!);
      const norm = Math.sqrt(sq);
      if (norm < max) return;
      const factor = max / norm;
      for (let i = 0; i < updates.length; i++) scaleInPlace(updates[i]!, factor);
    },
  };
}
