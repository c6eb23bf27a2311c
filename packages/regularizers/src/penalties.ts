/**
 * Weight penalties (FORMAT.md §8 "penalty"): L1, L2, ½L2 and elastic net, summed
 * over every tensor given. Each returns the penalty value (a float64 number) and
 * by default adds the penalty's gradient into `p.grad` (allocating a zero
 * gradient when it is `null`), so it composes with a loss whose gradient is
 * already there.
 */
import { type FloatArray, type Parameter, checkInRange, checkNonNegative } from '@opt/core';
import { toParameterList } from './penalties-common.js';

/** Options shared by the weight penalties. */
export interface PenaltyOptions {
  /**
   * Add the gradient into each parameter's `grad` (allocated zero-filled when
   * `null`). Default `true`; with `false` only the value is computed.
   */
  addToGrad?: boolean;
}

/** Options of {@link elasticNet}. */
export interface ElasticNetOptions extends PenaltyOptions {
  /** Overall strength α ≥ 0 (scikit-learn's `alpha`). */
  alpha: number;
  /** Mixing ratio r ∈ [0, 1]: 1 is pure L1, 0 pure ½L2 (scikit-learn's `l1_ratio`). */
  l1Ratio: number;
}

/**
 * The fused penalty kernel behind every weight penalty:
 *
 * ```
 * value = a·Σ|w| + b·Σw²,     grad += a·sign(w) + 2b·w     (sign(0) = 0)
 * ```
 *
 * One pass over `data`, no allocation. The value is accumulated in float64;
 * `grad` (when not `null`) is updated in place in its own dtype.
 *
 * @param data - the weights.
 * @param grad - the gradient buffer to add into (same length), or `null` for the value only.
 * @param a - the L1 coefficient.
 * @param b - the squared-L2 coefficient.
 * @returns `a·Σ|w| + b·Σw²`.
 */
export function penaltyKernel(data: FloatArray, grad: FloatArray | null, a: number, b: number): number {
  let sumAbs = 0;
  let sumSq = 0;
  const n = data.length;
  const b2 = 2 * b;
  if (grad === null) {
    for (let i = 0; i < n; i++) {
      const w = data[i]!;
      sumAbs += Math.abs(w);
      sumSq += w * w;
    }
  } else {
    for (let i = 0; i < n; i++) {
      const w = data[i]!;
      sumAbs += Math.abs(w);
      sumSq += w * w;
      // The subgradient of |w| at 0 is taken as 0 (as torch.sign / autograd of abs do).
      const s = w > 0 ? a : w < 0 ? -a : 0;
      grad[i] = grad[i]! + s + b2 * w;
    }
  }
  return a * sumAbs + b * sumSq;
}

function applyPenalty(where: string, params: Parameter | Iterable<Parameter>, a: number, b: number, options: PenaltyOptions): number {
  const list = toParameterList(where, params);
  const addToGrad = options.addToGrad ?? true;
  let value = 0;
  for (const p of list) value += penaltyKernel(p.data, addToGrad ? p.ensureGrad() : null, a, b);
  return value;
}

/**
 * L1 penalty (lasso): `λ·Σ|w|` over every tensor, gradient `λ·sign(w)` with
 * `sign(0) = 0`.
 *
 * @param params - one parameter or several.
 * @param lambda - the strength λ ≥ 0.
 * @returns the penalty value.
 * @example
 * ```ts
 * const value = l1Penalty([w1, w2], 1e-4); // w1.grad, w2.grad now include 1e-4·sign(w)
 * ```
 */
export function l1Penalty(params: Parameter | Iterable<Parameter>, lambda: number, options: PenaltyOptions = {}): number {
  checkNonNegative('l1Penalty', 'lambda', lambda);
  return applyPenalty('l1Penalty', params, lambda, 0, options);
}

/**
 * L2 penalty `λ·Σw²` (PyTorch's `lambda * sum(w**2)`), gradient `2λ·w`. For the
 * `½·λ·Σw²` convention whose gradient is `λ·w` (the same as an optimizer's
 * `weightDecay = λ`), use {@link l2HalfPenalty} or `{ half: true }`.
 *
 * @param params - one parameter or several.
 * @param lambda - the strength λ ≥ 0.
 * @returns the penalty value.
 * @example
 * ```ts
 * const value = l2Penalty(model.parameters, 1e-3);
 * ```
 */
export function l2Penalty(
  params: Parameter | Iterable<Parameter>,
  lambda: number,
  options: PenaltyOptions & { half?: boolean } = {},
): number {
  checkNonNegative('l2Penalty', 'lambda', lambda);
  return applyPenalty('l2Penalty', params, 0, options.half === true ? 0.5 * lambda : lambda, options);
}

/**
 * Half L2 penalty `½·λ·Σw²`, gradient `λ·w` (equivalent to L2 weight decay `λ`
 * in plain SGD).
 *
 * @param params - one parameter or several.
 * @param lambda - the strength λ ≥ 0.
 * @returns the penalty value.
 * @example
 * ```ts
 * const value = l2HalfPenalty(w, 5e-4);
 * ```
 */
export function l2HalfPenalty(params: Parameter | Iterable<Parameter>, lambda: number, options: PenaltyOptions = {}): number {
  checkNonNegative('l2HalfPenalty', 'lambda', lambda);
  return applyPenalty('l2HalfPenalty', params, 0, 0.5 * lambda, options);
}

/**
 * Elastic net (scikit-learn's parametrisation):
 *
 * ```
 * value = α·(r·Σ|w| + ½·(1 − r)·Σw²),     grad = α·r·sign(w) + α·(1 − r)·w
 * ```
 *
 * with α = `alpha`, r = `l1Ratio`, summed over every tensor.
 *
 * @param params - one parameter or several.
 * @returns the penalty value.
 * @example
 * ```ts
 * const value = elasticNet([w], { alpha: 0.1, l1Ratio: 0.3 });
 * ```
 */
export function elasticNet(params: Parameter | Iterable<Parameter>, options: ElasticNetOptions): number {
  const where = 'elasticNet';
  const alpha = checkNonNegative(where, 'alpha', options.alpha);
  const r = checkInRange(where, 'l1Ratio', options.l1Ratio, 0, 1);
  return applyPenalty(where, params, alpha * r, 0.5 * alpha * (1 - r), options);
}
