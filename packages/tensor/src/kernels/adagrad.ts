import type { FloatArray } from '../dtype.js';

/**
 * One fused Adagrad step (PyTorch `_single_tensor_adagrad`, dense gradients), in
 * place on `p` and `sum`:
 *
 * ```
 * g = maximize ? -g : g;  g = g + weightDecay·p
 * sum = sum + g²
 * p = p − clr · g / (sqrt(sum) + eps)
 * ```
 *
 * with `clr = lr / (1 + (t − 1)·lrDecay)` computed by the caller: eps is added
 * outside the root, as PyTorch does.
 *
 * @param p - the parameter's values, updated in place.
 * @param g - the gradient (not modified).
 * @param sum - the running sum of squared gradients, updated in place.
 * @param clr - the decayed learning rate of this step.
 * @param eps - added to `sqrt(sum)` for numerical stability.
 * @param weightDecay - L2 penalty added to the gradient.
 * @param maximize - ascend instead of descend.
 */
export function adagradUpdate(
  p: FloatArray,
  g: FloatArray,
  sum: FloatArray,
  clr: number,
  eps: number,
  weightDecay: number,
  maximize: boolean,
): void {
  const n = p.length;
  const sign = maximize ? -1 : 1;
  for (let i = 0; i < n; i++) {
    const gi = sign * g[i]! + weightDecay * p[i]!;
    sum[i] = sum[i]! + gi * gi;
    p[i] = p[i]! - (clr * gi) / (Math.sqrt(sum[i]!) + eps);
  }
}
