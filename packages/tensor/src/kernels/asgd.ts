import type { FloatArray } from '../dtype.js';

/**
 * One fused ASGD step (PyTorch `_single_tensor_asgd`), in place on `p` and `ax`:
 *
 * ```
 * g = maximize ? -g : g;  g = g + weightDecay·p
 * p = p·(1 − λ·η)
 * p = p − η·g
 * ax = (μ = 1) ? p : ax + (p − ax)·μ
 * ```
 *
 * η (`eta`) and μ (`mu`) are the values from the previous step; the caller
 * updates them afterwards.
 *
 * @param p - the parameter's values, updated in place.
 * @param g - the gradient (not modified).
 * @param ax - the averaged parameters, updated in place.
 * @param eta - the current step size η.
 * @param lambd - the decay term λ.
 * @param mu - the averaging coefficient μ (1 until averaging starts).
 * @param weightDecay - L2 penalty added to the gradient (uses p before the decay term).
 * @param maximize - ascend instead of descend.
 */
export function asgdUpdate(
  p: FloatArray,
  g: FloatArray,
  ax: FloatArray,
  eta: number,
  lambd: number,
  mu: number,
  weightDecay: number,
  maximize: boolean,
): void {
  const n = p.length;
  const sign = maximize ? -1 : 1;
  const decay = 1 - lambd * eta;
  const copy = mu === 1;
  for (let i = 0; i < n; i++) {
    const gi = sign * g[i]! + weightDecay * p[i]!;
    // Two stores, as PyTorch's mul_ then add_: float32 params round in between.
    p[i] = p[i]! * decay;
    p[i] = p[i]! - eta * gi;
    ax[i] = copy ? p[i]! : ax[i]! + (p[i]! - ax[i]!) * mu;
  }
}
