/**
 * Regularisers on a layer's outputs rather than its weights: L1/L2 activity
 * penalties and entropy regularisation of a softmax output (entropy
 * minimisation, or the confidence penalty of Pereyra et al. 2017). Each takes
 * the activation buffer and its shape, returns the value, and adds the gradient
 * with respect to that buffer into a caller-provided gradient buffer (the
 * layer's output gradient, before its own backward pass).
 */
import { type FloatArray, ShapeMismatchError, checkNonNegative, checkOneOf } from '@opt/core';
import { checkBuffer, checkShape } from './penalties-common.js';

/** How an activity penalty is reduced over the batch (the first dimension). */
export type ActivityReduction = 'sum' | 'mean';

/** Options of {@link activityRegularization}, {@link activityL1} and {@link activityL2}. */
export interface ActivityOptions {
  /**
   * Buffer receiving `+= ∂value/∂x` (same length as `x`), e.g. the gradient of
   * the loss with respect to the layer's output. `null`/omitted: value only.
   */
  grad?: FloatArray | null;
  /**
   * `'sum'` (default): the penalty over the whole buffer; `'mean'`: divided by
   * the batch size `shape[0]`, as Keras does for `activity_regularizer`, so the
   * strength does not depend on the batch size.
   */
  reduction?: ActivityReduction;
}

/**
 * Activity regularisation (Keras' `ActivityRegularization`) on activations `x`
 * of shape `[N, ...]`:
 *
 * ```
 * value = s·(l1·Σ|x| + l2·Σx²),     ∂/∂x = s·(l1·sign(x) + 2·l2·x)     (sign(0) = 0)
 * ```
 *
 * with `s = 1` (`'sum'`) or `1/N` (`'mean'`).
 *
 * @param x - the activations.
 * @param shape - their shape, batch first.
 * @param coefficients - `l1` and `l2` strengths (each ≥ 0, default 0).
 * @returns the penalty value.
 * @example
 * ```ts
 * const h = new Float64Array([0.5, -1, 0, 2]);
 * const dh = new Float64Array(4);           // the loss gradient w.r.t. h, from upstream
 * const value = activityRegularization(h, [2, 2], { l1: 1e-3, l2: 1e-4 }, { grad: dh, reduction: 'mean' });
 * ```
 */
export function activityRegularization(
  x: FloatArray,
  shape: readonly number[],
  coefficients: { l1?: number; l2?: number },
  options: ActivityOptions = {},
): number {
  const where = 'activityRegularization';
  return activityKernel(where, x, shape, coefficients.l1 ?? 0, coefficients.l2 ?? 0, options);
}

/**
 * L1 activity penalty `s·λ·Σ|x|` (sparse activations), gradient `s·λ·sign(x)`;
 * see {@link activityRegularization}.
 *
 * @example
 * ```ts
 * const value = activityL1(h, [batch, units], 1e-4, { grad: dh });
 * ```
 */
export function activityL1(x: FloatArray, shape: readonly number[], lambda: number, options: ActivityOptions = {}): number {
  return activityKernel('activityL1', x, shape, lambda, 0, options);
}

/**
 * L2 activity penalty `s·λ·Σx²`, gradient `2·s·λ·x`; see {@link activityRegularization}.
 *
 * @example
 * ```ts
 * const value = activityL2(h, [batch, units], 1e-4, { grad: dh, reduction: 'mean' });
 * ```
 */
export function activityL2(x: FloatArray, shape: readonly number[], lambda: number, options: ActivityOptions = {}): number {
  return activityKernel('activityL2', x, shape, 0, lambda, options);
}

function activityKernel(
  where: string,
  x: FloatArray,
  shape: readonly number[],
  l1: number,
  l2: number,
  options: ActivityOptions,
): number {
  checkNonNegative(where, 'l1', l1);
  checkNonNegative(where, 'l2', l2);
  checkBuffer(where, 'x', x, x.length);
  checkShape(where, 'x', shape, x.length);
  const reduction = checkOneOf<ActivityReduction>(where, 'reduction', options.reduction ?? 'sum', ['sum', 'mean']);
  const grad = options.grad ?? null;
  if (grad !== null) checkBuffer(where, 'grad', grad, x.length);
  const batch = shape[0]!;
  const s = reduction === 'mean' ? (batch > 0 ? 1 / batch : 0) : 1;
  const a = s * l1;
  const b2 = 2 * s * l2;
  let sumAbs = 0;
  let sumSq = 0;
  const n = x.length;
  for (let i = 0; i < n; i++) {
    const v = x[i]!;
    sumAbs += Math.abs(v);
    sumSq += v * v;
  }
  if (grad !== null) {
    for (let i = 0; i < n; i++) {
      const v = x[i]!;
      grad[i] = grad[i]! + (v > 0 ? a : v < 0 ? -a : 0) + b2 * v;
    }
  }
  return s * (l1 * sumAbs + l2 * sumSq);
}

/** Options of {@link entropyRegularization}. */
export interface EntropyOptions {
  /** Buffer receiving `+= ∂value/∂logits` (same length as `logits`); omitted/`null`: value only. */
  grad?: FloatArray | null;
  /**
   * `'minimize'` (default): the value is `+λ·H̄`, so descending it makes
   * predictions confident (entropy minimisation, Grandvalet & Bengio 2005).
   * `'maximize'`: the value is `−λ·H̄`, the confidence penalty of Pereyra et
   * al. (2017), which discourages over-confident output distributions.
   */
  mode?: 'minimize' | 'maximize';
}

/**
 * Entropy regularisation of a softmax output, from logits `z` of shape `[N, C]`:
 *
 * ```
 * p_i   = softmax(z_i),   H_i = −Σ_c p_ic·log p_ic,   H̄ = (1/N)·Σ_i H_i
 * value = ±λ·H̄
 * ∂H_i/∂z_ik = −p_ik·(log p_ik + H_i)
 * ```
 *
 * `log p` is computed as a log-softmax (`z − max − log Σ exp(z − max)`), so
 * extreme logits neither overflow nor give `0·log 0 = NaN` (a class with
 * `p = 0` contributes 0 to both value and gradient).
 *
 * @param logits - `[N, C]` row-major.
 * @param shape - `[N, C]`.
 * @param lambda - the strength λ ≥ 0.
 * @returns the value `±λ·H̄`.
 * @example
 * ```ts
 * const logits = new Float64Array([2, 0, -1, 0.5, 0.5, 0.5]);
 * const dz = new Float64Array(6);
 * // confidence penalty: loss −= 0.1·H̄, gradient added into dz
 * const value = entropyRegularization(logits, [2, 3], 0.1, { grad: dz, mode: 'maximize' });
 * ```
 */
export function entropyRegularization(
  logits: FloatArray,
  shape: readonly [number, number] | readonly number[],
  lambda: number,
  options: EntropyOptions = {},
): number {
  const where = 'entropyRegularization';
  checkNonNegative(where, 'lambda', lambda);
  checkBuffer(where, 'logits', logits, logits.length);
  checkShape(where, 'logits', shape, logits.length, 2);
  if (shape.length !== 2) throw new ShapeMismatchError(`${where}: logits must be [N, C], got shape [${shape.join(', ')}]`);
  const mode = checkOneOf(where, 'mode', options.mode ?? 'minimize', ['minimize', 'maximize'] as const);
  const grad = options.grad ?? null;
  if (grad !== null) checkBuffer(where, 'grad', grad, logits.length);
  const n = shape[0]!;
  const c = shape[1]!;
  if (n === 0 || c === 0) return 0;
  const sign = mode === 'minimize' ? 1 : -1;
  const scale = (sign * lambda) / n;
  let total = 0;
  for (let i = 0; i < n; i++) {
    const row = i * c;
    let max = -Infinity;
    for (let j = 0; j < c; j++) if (logits[row + j]! > max) max = logits[row + j]!;
    let sumExp = 0;
    for (let j = 0; j < c; j++) sumExp += Math.exp(logits[row + j]! - max);
    const lse = max + Math.log(sumExp);
    let h = 0;
    for (let j = 0; j < c; j++) {
      const lp = logits[row + j]! - lse;
      const p = Math.exp(lp);
      if (p > 0) h -= p * lp;
    }
    total += h;
    if (grad !== null) {
      for (let j = 0; j < c; j++) {
        const lp = logits[row + j]! - lse;
        const p = Math.exp(lp);
        if (p > 0) grad[row + j] = grad[row + j]! - scale * p * (lp + h);
      }
    }
  }
  return (sign * lambda * total) / n;
}
