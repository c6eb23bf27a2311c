import { type FloatArray, zerosLike } from '@opt/tensor';
import { checkInteger } from '../validation.js';
import { type GradientTransformation, type ScalarOrSchedule, hyperparameter } from './types.js';

/** Options of {@link multiSteps}. */
export interface MultiStepsOptions {
  /**
   * Number of micro-batches per real step (an integer ≥ 1), or a schedule of
   * the number of real steps done so far (optax `every_k_schedule`).
   */
  everyK: ScalarOrSchedule;
  /** Average the k micro-batch updates (default) rather than sum them. */
  useGradMean?: boolean;
}

/** State of {@link multiSteps}. */
export interface MultiStepsState<S> {
  /** Micro-batches accumulated since the last real step. */
  miniStep: number;
  /** Real steps done (inner updates emitted). */
  gradientStep: number;
  /** The running mean (or sum) of the micro-batch updates, one buffer per parameter. */
  accGrads: FloatArray[];
  /** The inner transform's state, advanced once per real step. */
  inner: S;
}

/**
 * Gradient accumulation (optax `MultiSteps`): accumulate k micro-batch updates
 * in preallocated buffers, emit zero updates for the first k − 1, and on the
 * k-th emit the inner transform's update of their mean:
 *
 * ```
 * a ← a + (u − a)/(n + 1)          (running mean over the n updates so far; a ← a + u when summing)
 * u ← 0                            while n + 1 < k
 * u ← inner(a); a ← 0              on the k-th micro-batch
 * ```
 *
 * So k calls of `multiSteps(tx, { everyK: k })` move the parameters exactly
 * as one call of `tx` on the averaged gradient (up to the rounding of the mean).
 */
export function multiSteps<S>(inner: GradientTransformation<S>, options: MultiStepsOptions): GradientTransformation<MultiStepsState<S>> {
  const everyKAt = hyperparameter('multiSteps', 'everyK', options.everyK, (w, n, v) => checkInteger(w, n, v, 1));
  const useMean = options.useGradMean ?? true;
  return {
    init: (params) => ({
      miniStep: 0,
      gradientStep: 0,
      accGrads: params.map((p) => zerosLike(p.data)),
      inner: inner.init(params),
    }),
    update(updates, state, params) {
      const k = everyKAt(state.gradientStep);
      const n = state.miniStep;
      const count = n + 1;
      for (let i = 0; i < updates.length; i++) {
        const u = updates[i]!;
        const a = state.accGrads[i]!;
        // optax's running mean a + (u − a)/(n + 1): exact on the first micro-batch (a = u).
        if (useMean) for (let j = 0; j < u.length; j++) a[j] = a[j]! + (u[j]! - a[j]!) / count;
        else for (let j = 0; j < u.length; j++) a[j] = a[j]! + u[j]!;
      }
      if (count < k) {
        state.miniStep = count;
        for (let i = 0; i < updates.length; i++) updates[i]!.fill(0);
        return;
      }
      for (let i = 0; i < updates.length; i++) {
        updates[i]!.set(state.accGrads[i]!);
        state.accGrads[i]!.fill(0);
      }
      inner.update(updates, state.inner, params);
      state.miniStep = 0;
      state.gradientStep++;
    },
  };
}

