import { type FloatArray, ShapeMismatchError, isFloatArray } from '@opt/tensor';
import { checkBoolean, checkInRange, checkOneOf } from '@opt/core';
import { checkGradBuffer, checkIgnoreIndex, checkLabels, checkWeight, classTargetRows, keptWeight, logitsShape, softTargetRows } from './losses-rows.js';

/**
 * A row-major float buffer with its shape: a `Parameter` fits, and so does
 * a plain `{ data, shape }` object. Losses read `shape[0]` as the batch size N
 * and `shape[1]` as the number of classes C.
 */
export interface ShapedArray {
  readonly data: FloatArray;
  readonly shape: readonly number[];
}

/** How per-sample losses are combined: averaged, summed, or returned one per sample. */
export type LossReduction = 'mean' | 'sum' | 'none';

/**
 * Class-index targets (one integer per sample; `ignoreIndex` marks a sample to skip)
 * or, as a float buffer / shaped array of N·C values, class probabilities.
 */
export type CrossEntropyTarget = Int32Array | readonly number[] | FloatArray | ShapedArray;

/** Options of {@link crossEntropy} (PyTorch's `cross_entropy` arguments in camelCase). */
export interface CrossEntropyOptions {
  /** Per-class rescaling weights w (length C); `null`/absent means all ones. */
  weight?: ArrayLike<number> | null;
  /** A class-index target equal to this contributes nothing, not even to the mean's denominator. Default -100. */
  ignoreIndex?: number;
  /** Label smoothing ε ∈ [0, 1]: the target becomes (1 − ε)·target + ε/C. Default 0. */
  labelSmoothing?: number;
  /** `'mean'` (default), `'sum'` or `'none'`. */
  reduction?: LossReduction;
  /**
   * Output buffer (length N·C) that receives ∂(Σ returned values)/∂logits, overwriting
   * its contents. No gradient is computed when absent.
   */
  gradLogits?: FloatArray | null;
  /** Add the gradient into `gradLogits` instead of overwriting it (to sum several losses). Default false. */
  accumulate?: boolean;
  /** For `reduction: 'none'`: buffer (length N) that receives the per-sample losses instead of a fresh one. */
  out?: FloatArray | null;
}

const WHERE = 'crossEntropy';

/**
 * Cross-entropy between logits and class targets, with label smoothing, class
 * weights and ignored samples, as PyTorch's `F.cross_entropy`. With
 * `lp = log_softmax(z)` per row (computed as `z − max − log Σ exp(z − max)`, so no
 * exponential overflows), w the class weights and ε the smoothing:
 *
 * ```
 * class targets:        ℓ_i = (1 − ε)·(−w[y_i]·lp[i, y_i]) + (ε/C)·Σ_c −w[c]·lp[i, c]
 *                       (ℓ_i = 0 when y_i = ignoreIndex)
 *                       mean = Σ_i ℓ_i / Σ_{kept i} w[y_i]
 * probability targets:  ℓ_i = −Σ_c w[c]·((1 − ε)·p[i, c] + ε/C)·lp[i, c]
 *                       mean = Σ_i ℓ_i / N
 * ```
 *
 * Both are `ℓ_i = −Σ_c q_ic·lp[i, c]` for non-negative-weighted targets q, whose gradient is
 * `∂ℓ_i/∂z[i, j] = softmax(z_i)_j·Σ_c q_ic − q_ij`; the reduction scales it by
 * 1/denominator for `'mean'`. Note that the smoothing term is weighted too (as in
 * PyTorch), so with weights the smoothed target is not a probability vector.
 *
 * Arithmetic is float64 for float32 logits too; `gradLogits` takes the dtype of
 * its buffer. With `'mean'` and every sample ignored the result is NaN (0/0), as in PyTorch.
 *
 * @param logits - [N, C] unnormalised scores.
 * @param target - class indices (`Int32Array` / `number[]`, length N) or
 *   probabilities (a float buffer or shaped array of N·C values).
 * @returns the reduced loss, or for `'none'` the N per-sample losses (dtype of the logits).
 *
 * @example
 * ```ts
 * const logits = { data: new Float64Array([2, 0, -1, 0.5, 0.5, 3]), shape: [2, 3] };
 * const grad = new Float64Array(6);
 * const loss = crossEntropy(logits, [0, 2], { labelSmoothing: 0.1, gradLogits: grad });
 * ```
 */
export function crossEntropy(
  logits: ShapedArray,
  target: CrossEntropyTarget,
  options: CrossEntropyOptions & { reduction: 'none' },
): FloatArray;
export function crossEntropy(logits: ShapedArray, target: CrossEntropyTarget, options?: CrossEntropyOptions): number;
export function crossEntropy(
  logits: ShapedArray,
  target: CrossEntropyTarget,
  options: CrossEntropyOptions = {},
): number | FloatArray {
  const [n, c] = logitsShape(logits, WHERE);
  const reduction = checkOneOf<LossReduction>(WHERE, 'reduction', options.reduction ?? 'mean', ['mean', 'sum', 'none']);
  const eps = checkInRange(WHERE, 'labelSmoothing', options.labelSmoothing ?? 0, 0, 1);
  const weight = checkWeight(options.weight ?? null, c, WHERE);
  const grad = checkGradBuffer(options.gradLogits ?? null, n * c, WHERE, 'gradLogits');
  const accumulate = checkBoolean(WHERE, 'accumulate', options.accumulate ?? false);
  let values: FloatArray | null = null;
  if (reduction === 'none') {
    values = options.out ?? (logits.data instanceof Float64Array ? new Float64Array(n) : new Float32Array(n));
    if (!isFloatArray(values) || values.length !== n) {
      throw new ShapeMismatchError(`${WHERE}: out must be a float buffer of ${n} elements (one per sample)`);
    }
  }

  const probs = probabilityTarget(target);
  if (probs !== null) {
    if (probs.length !== n * c) {
      throw new ShapeMismatchError(`${WHERE}: probability target has ${probs.length} elements, expected N·C = ${n}·${c}`);
    }
    const scale = reduction === 'mean' ? 1 / n : 1;
    const total = softTargetRows(logits.data, n, c, probs, weight, eps, scale, grad, accumulate, values);
    return values ?? (reduction === 'mean' ? total / n : total);
  }

  const labels = target as Int32Array | readonly number[];
  const ignoreIndex = options.ignoreIndex ?? -100;
  checkIgnoreIndex(ignoreIndex, WHERE);
  checkLabels(labels, n, c, ignoreIndex, WHERE, 'target');
  const denom = reduction === 'mean' ? keptWeight(labels, null, weight, ignoreIndex) : 1;
  const total = classTargetRows(logits.data, n, c, labels, null, weight, ignoreIndex, eps, 1 / denom, grad, accumulate, values);
  return values ?? (reduction === 'mean' ? total / denom : total);
}

function probabilityTarget(target: CrossEntropyTarget): FloatArray | null {
  if (isFloatArray(target)) return target;
  if (typeof target === 'object' && target !== null && !Array.isArray(target) && 'data' in target && isFloatArray(target.data)) {
    return target.data;
  }
  return null;
}

