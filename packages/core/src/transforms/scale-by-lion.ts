import { type FloatArray, zerosLike } from '@opt/tensor';
import { type GradientTransformation, type ScalarOrSchedule, hyperparameter, rangeCheck } from './types.js';

/** Options of {@link scaleByLion}. */
export interface ScaleByLionOptions {
  /** Interpolation weight of the momentum in the emitted direction, in [0, 1]. Default 0.9. */
  b1?: ScalarOrSchedule;
  /** Decay rate of the momentum, in [0, 1]. Default 0.99. */
  b2?: ScalarOrSchedule;
}

/** State of {@link scaleByLion}. */
export interface ScaleByLionState {
  count: number;
  /** The momentum (PyTorch ports call it `exp_avg`). */
  mu: FloatArray[];
}

/**
 * Lion's sign update (Chen et al., 2023, "Symbolic Discovery of Optimization
 * Algorithms"; optax `scale_by_lion`):
 *
 * ```
 * c = b1·m + (1 − b1)·u
 * m ← b2·m + (1 − b2)·u
 * u ← sign(c)
 * ```
 */
export function scaleByLion(options: ScaleByLionOptions = {}): GradientTransformation<ScaleByLionState> {
  const check = rangeCheck(0, 1, '[]');
  const b1At = hyperparameter('scaleByLion', 'b1', options.b1 ?? 0.9, check);
  const b2At = hyperparameter('scaleByLion', 'b2', options.b2 ?? 0.99, check);
  return {
    init: (params) => ({ count: 0, mu: params.map((p) => zerosLike(p.data)) }),
    update(updates, state) {
      const b1 = b1At(state.count);
      const b2 = b2At(state.count);
      for (let i = 0; i < updates.length; i++) {
        const u = updates[i]!;
        const m = state.mu[i]!;
        for (let j = 0; j < u.length; j++) {
          const g = u[j]!;
          const c = b1 * m[j]! + (1 - b1) * g;
          m[j] = b2 * m[j]! + (1 - b2) * g;
          u[j] = Math.sign(c);
        }
      }
      state.count++;
    },
  };
}
