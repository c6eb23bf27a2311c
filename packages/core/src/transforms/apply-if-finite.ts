import { firstNonFinite } from '@opt/tensor';
import { checkInteger } from '../validation.js';
import type { GradientTransformation } from './types.js';

/** Options of {@link applyIfFinite}. */
export interface ApplyIfFiniteOptions {
  /**
   * After this many consecutive non-finite updates, the next one is applied
   * anyway (an integer ≥ 0), so a run that only produces NaNs fails loudly
   * instead of stalling (required, as in optax).
   */
  maxConsecutiveErrors: number;
}

/** State of {@link applyIfFinite}. */
export interface ApplyIfFiniteState<S> {
  /** Consecutive non-finite updates so far (0 after a finite one). */
  notfiniteCount: number;
  /** Whether the most recent update was finite. */
  lastFinite: boolean;
  /** All non-finite updates seen. */
  totalNotfinite: number;
  /** The inner transform's state, untouched by skipped updates. */
  inner: S;
}

/**
 * Skip updates holding NaN or ±Infinity (optax `apply_if_finite`): when any
 * incoming update element is not finite, the updates are zeroed, the inner
 * state is left untouched and the skip is counted; otherwise the inner
 * transform runs. After more than `maxConsecutiveErrors` consecutive skips the
 * update goes through regardless.
 *
 * ```
 * finite = every uᵢⱼ is finite
 * notfiniteCount ← finite ? 0 : notfiniteCount + 1
 * u ← inner(u)   if finite or notfiniteCount > maxConsecutiveErrors
 * u ← 0          otherwise
 * ```
 */
export function applyIfFinite<S>(
  inner: GradientTransformation<S>,
  options: ApplyIfFiniteOptions,
): GradientTransformation<ApplyIfFiniteState<S>> {
  const maxErrors = checkInteger('applyIfFinite', 'maxConsecutiveErrors', options?.maxConsecutiveErrors, 0);
  return {
    init: (params) => ({ notfiniteCount: 0, lastFinite: true, totalNotfinite: 0, inner: inner.init(params) }),
    update(updates, state, params) {
      let finite = true;
      for (let i = 0; i < updates.length && finite; i++) finite = firstNonFinite(updates[i]!) < 0;
      state.lastFinite = finite;
      if (finite) {
        state.notfiniteCount = 0;
      } else {
        state.notfiniteCount++;
        state.totalNotfinite++;
      }
      if (finite || state.notfiniteCount > maxErrors) {
        inner.update(updates, state.inner, params);
        return;
      }
      for (let i = 0; i < updates.length; i++) updates[i]!.fill(0);
    },
  };
}
