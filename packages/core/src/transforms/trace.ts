import { type FloatArray, zerosLike } from '@opt/tensor';
import { checkBoolean, checkNonNegative } from '../validation.js';
import { type GradientTransformation, type ScalarOrSchedule, hyperparameter } from './types.js';

/** Options of {@link trace}. */
export interface TraceOptions {
  /** Decay rate of the trace (the momentum μ), ≥ 0. */
  decay: ScalarOrSchedule;
  /** Nesterov momentum: emit `u + μ·b` instead of `b`. Default false. */
  nesterov?: boolean;
}

/** State of {@link trace}: the step count and the momentum buffer of each parameter. */
export interface TraceState {
  count: number;
  /** The momentum buffers (PyTorch's `momentum_buffer`). */
  trace: FloatArray[];
}

/**
 * Heavy-ball momentum (optax `trace`):
 *
 * ```
 * b ← u + μ·b           (b starts at 0, so the first step copies u, as PyTorch does)
 * u ← nesterov ? u + μ·b : b
 * ```
 *
 * Followed by `scaleByLearningRate(lr)` it is PyTorch's SGD with momentum and
 * no dampening, bit for bit in float64.
 */
export function trace(options: TraceOptions): GradientTransformation<TraceState> {
  const decayAt = hyperparameter('trace', 'decay', options.decay, checkNonNegative);
  const nesterov = checkBoolean('trace', 'nesterov', options.nesterov ?? false);
  return {
    init: (params) => ({ count: 0, trace: params.map((p) => zerosLike(p.data)) }),
    update(updates, state) {
      const mu = decayAt(state.count);
      for (let i = 0; i < updates.length; i++) {
        const u = updates[i]!;
        const b = state.trace[i]!;
        for (let j = 0; j < u.length; j++) {
          const g = u[j]!;
          // Store before reusing b, so float32 buffers round exactly where PyTorch's do.
          b[j] = g + mu * b[j]!;
          u[j] = nesterov ? g + mu * b[j]! : b[j]!;
        }
      }
      state.count++;
    },
  };
}

/** Heavy-ball momentum under its descriptive name; the same transform as {@link trace}. */
export const scaleByMomentum = trace;
