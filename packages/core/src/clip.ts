import {
  type FloatArray,
  InvalidOptionError,
  NonFiniteError,
  Parameter,
  arenaOwning,
  clampInPlace,
  firstNonFinite,
  lpNorm,
  scaleInPlace,
} from '@opt/tensor';

/** Options of {@link clipGradNorm}. */
export interface ClipGradNormOptions {
  /**
   * Throw a {@link NonFiniteError} (and leave every gradient untouched) when the
   * total norm is NaN or infinite. Default false, as PyTorch's `error_if_nonfinite`:
   * the non-finite coefficient then propagates into the gradients.
   */
  errorIfNonfinite?: boolean;
}

/** Parameters as the clipping functions accept them: one parameter or any iterable of them. */
export type ParamsOrParam = Parameter | Iterable<Parameter>;

/**
 * Clip the gradients' total norm in place, as `torch.nn.utils.clip_grad_norm_`
 * (PyTorch 1.13), and return the total norm **before** clipping:
 *
 * ```
 * total = ‖(‖g₁‖_p, ‖g₂‖_p, …)‖_p        (p = ∞: max_i max |g_i|)
 * coef  = min(maxNorm / (total + 1e-6), 1)
 * g_i  ← coef · g_i                      for every parameter with a gradient
 * ```
 *
 * As in PyTorch the coefficient is applied even when it is 1, and the 1e-6 means
 * a total exactly equal to `maxNorm` still scales by `total/(total + 1e-6)`.
 * Parameters without a gradient are ignored; with none at all the result is 0.
 * Norms are accumulated in float64. Gradients held in wasm memory by an
 * optimizer with `backend: 'wasm'` are measured and scaled by the WebAssembly
 * SIMD kernels: the norm is bit-identical to the JS path; a float32 gradient is
 * scaled by the coefficient rounded to float32 (as PyTorch's float32 tensors
 * multiply), within one ulp of the JS path's float64 product.
 *
 * @param params - a parameter or an iterable of parameters (e.g. `model.parameters()`).
 * @param maxNorm - the largest allowed total norm (≥ 0; `Infinity` leaves the gradients unchanged).
 * @param normType - the p of the p-norm: any number > 0, or `Infinity`; also 0 (number of non-zero entries), as PyTorch. Default 2.
 * @param options - see {@link ClipGradNormOptions}.
 * @returns the total norm of the gradients before clipping.
 * @throws InvalidOptionError for a negative or NaN `maxNorm` or an invalid `normType`.
 * @throws NonFiniteError with `errorIfNonfinite` when the total norm is NaN or ±∞ (naming the parameter responsible).
 *
 * @example
 * ```ts
 * import { Parameter } from '@opt/tensor';
 * import { clipGradNorm } from '@opt/core';
 * const w = new Parameter(new Float64Array([0, 0]), [2], 'w');
 * w.grad = new Float64Array([3, 4]);
 * const norm = clipGradNorm([w], 1); // 5; w.grad ≈ [0.6, 0.8]
 * ```
 */
export function clipGradNorm(
  params: ParamsOrParam,
  maxNorm: number,
  normType = 2,
  options: ClipGradNormOptions = {},
): number {
  if (typeof maxNorm !== 'number' || !(maxNorm >= 0)) {
    throw new InvalidOptionError('maxNorm', maxNorm, 'a number >= 0 (Infinity only measures the norm)', 'clipGradNorm');
  }
  if (typeof normType !== 'number' || !(normType >= 0)) {
    throw new InvalidOptionError('normType', normType, 'a number >= 0 or Infinity', 'clipGradNorm');
  }
  const list = toList(params);
  let total = 0;
  let count = 0;
  for (const p of list) {
    const g = p.grad;
    if (g === null) continue;
    total = combine(total, gradientNorm(g, normType), normType);
    count++;
  }
  if (count === 0) return 0;
  total = finish(total, normType);
  if (options.errorIfNonfinite === true && !Number.isFinite(total)) throw nonFiniteTotal(list, normType, total);
  // min(coef, 1) written so that a NaN coefficient propagates, as torch.clamp does.
  const coef = maxNorm / (total + 1e-6);
  const clamped = coef > 1 ? 1 : coef;
  for (const p of list) {
    const g = p.grad;
    if (g === null) continue;
    const arena = arenaOwning(g);
    if (arena !== null) arena.scaleInPlace(g, clamped);
    else scaleInPlace(g, clamped);
  }
  return total;
}

/**
 * ‖g‖_p; gradients that an optimizer keeps in wasm memory (`backend: 'wasm'`) are reduced by the wasm kernels,
 * whose index-order sum of squares and exact max |g| equal the JS kernels bit for bit.
 */
function gradientNorm(g: FloatArray, p: number): number {
  const arena = arenaOwning(g);
  if (arena === null || (p !== 2 && p !== Infinity)) return lpNorm(g, p);
  return p === 2 ? Math.sqrt(arena.sumOfSquaresOrdered(g)) : arena.maxAbs(g);
}

/**
 * Clamp every gradient element into `[−clipValue, clipValue]`, in place, as
 * `torch.nn.utils.clip_grad_value_`. NaN elements stay NaN; parameters without
 * a gradient are ignored.
 *
 * @param params - a parameter or an iterable of parameters.
 * @param clipValue - the bound (≥ 0).
 * @throws InvalidOptionError for a negative or NaN `clipValue`.
 *
 * @example
 * ```ts
 * import { Parameter } from '@opt/tensor';
 * import { clipGradValue } from '@opt/core';
 * const w = new Parameter(new Float64Array([0, 0, 0]), [3]);
 * w.grad = new Float64Array([-3, 0.05, 2]);
 * clipGradValue(w, 0.1); // w.grad = [-0.1, 0.05, 0.1]
 * ```
 */
export function clipGradValue(params: ParamsOrParam, clipValue: number): void {
  if (typeof clipValue !== 'number' || !(clipValue >= 0)) {
    throw new InvalidOptionError('clipValue', clipValue, 'a number >= 0', 'clipGradValue');
  }
  for (const p of toList(params)) {
    const g = p.grad;
    if (g !== null) clampInPlace(g, -clipValue, clipValue);
  }
}

/** A parameter, or the parameters of an iterable, as an array (iterables may be one-shot generators). */
function toList(params: ParamsOrParam): Parameter[] {
  if (params instanceof Parameter) return [params];
  const list = Array.isArray(params) ? (params as Parameter[]) : [...params];
  for (const [i, p] of list.entries()) {
    if (!(p instanceof Parameter)) {
      throw new InvalidOptionError(`params[${i}]`, p, 'a Parameter', 'gradient clipping');
    }
  }
  return list;
}

/**
 * Fold one per-tensor norm into the running total: the p-norm of the vector of
 * per-tensor norms, accumulated as Σ n^p (max for ∞, count of non-zeros for 0).
 * The comparisons keep NaN sticky, as torch.max does.
 */
function combine(acc: number, n: number, p: number): number {
  if (p === Infinity) return n > acc || n !== n ? n : acc;
  if (acc !== acc) return acc;
  if (p === 0) return acc + (n !== 0 ? 1 : 0);
  if (p === 1) return acc + n;
  if (p === 2) return acc + n * n;
  return acc + n ** p;
}

function finish(acc: number, p: number): number {
  if (p === Infinity || p === 0 || p === 1) return acc;
  if (p === 2) return Math.sqrt(acc);
  return acc ** (1 / p);
}

/**
 * The error for a non-finite total: it names the first parameter whose gradient
 * holds a NaN/∞ element, or, when every element is finite and the norm
 * overflowed, the parameter whose contribution made the running total overflow.
 */
function nonFiniteTotal(list: readonly Parameter[], p: number, total: number): NonFiniteError {
  let position = 0;
  for (const param of list) {
    const g = param.grad;
    if (g !== null) {
      const index = firstNonFinite(g);
      if (index >= 0) return new NonFiniteError(param.label(`#${position}`), index, g[index]!);
    }
    position++;
  }
  let acc = 0;
  position = 0;
  for (const param of list) {
    const g = param.grad;
    if (g !== null) {
      acc = combine(acc, lpNorm(g, p), p);
      if (!Number.isFinite(finish(acc, p))) {
        const index = argMaxAbs(g);
        return new NonFiniteError(param.label(`#${position}`), index, g[index]!, `total ${p}-norm of the gradients (overflow)`);
      }
    }
    position++;
  }
  return new NonFiniteError('(all parameters)', -1, total, `total ${p}-norm of the gradients`);
}

function argMaxAbs(x: FloatArray): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (Math.abs(x[i]!) > Math.abs(x[best]!)) best = i;
  return best;
}
