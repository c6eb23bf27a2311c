import type { FloatArray } from '../dtype.js';

/**
 * One fused Adamax step (PyTorch `_single_tensor_adamax`), in place on `p`, `m`
 * and `u`:
 *
 * ```
 * g = maximize ? -g : g;  g = g + weightDecay·p
 * m = β1·m + (1 − β1)·g
 * u = max(β2·u, |g| + eps)
 * p = p − clr · m / u
 * ```
 *
 * with `clr = lr / (1 − β1^t)` computed by the caller. eps is added to |g|
 * inside the max, as PyTorch does, so `u` is never below eps.
 *
 * @param p - the parameter's values, updated in place.
 * @param g - the gradient (not modified).
 * @param m - first moment estimate (`exp_avg`), updated in place.
 * @param u - exponentially weighted infinity norm (`exp_inf`), updated in place.
 * @param clr - bias-corrected step size `lr / (1 − β1^t)`.
 * @param beta1 - decay rate of the first moment.
 * @param beta2 - decay rate of the infinity norm.
 * @param eps - added to |g| inside the max.
 * @param weightDecay - L2 penalty added to the gradient.
 * @param maximize - ascend instead of descend.
 */
export function adamaxUpdate(
  p: FloatArray,
  g: FloatArray,
  m: FloatArray,
  u: FloatArray,
  clr: number,
  beta1: number,
  beta2: number,
  eps: number,
  weightDecay: number,
  maximize: boolean,
): void {
  const n = p.length;
  const sign = maximize ? -1 : 1;
  const c1 = 1 - beta1;
  for (let i = 0; i < n; i++) {
    const gi = sign * g[i]! + weightDecay * p[i]!;
    m[i] = beta1 * m[i]! + c1 * gi;
    // Math.max propagates NaN as torch.amax does.
    u[i] = Math.max(beta2 * u[i]!, Math.abs(gi) + eps);
    p[i] = p[i]! - (clr * m[i]!) / u[i]!;
  }
}
