import type { FloatArray } from '../dtype.js';

/**
 * One fused NAdam step (PyTorch `_single_tensor_nadam`), in place on `p`, `m`, `v`:
 *
 * ```
 * g = maximize ? -g : g;  g = g + weightDecay·p
 * m = β1·m + (1 − β1)·g
 * v = β2·v + (1 − β2)·g²
 * denom = sqrt(v / bc2) + eps
 * p = p − gradCoef · g / denom
 * p = p − momentumCoef · m / denom
 * ```
 *
 * with `bc2 = 1 − β2^t`, `gradCoef = lr·(1 − μt)/(1 − Πμ)` and
 * `momentumCoef = lr·μ(t+1)/(1 − Πμ_next)` computed by the caller. The two
 * parameter updates are stored one after the other, so a float32 parameter is
 * rounded in between exactly as PyTorch's two `addcdiv_` calls round it.
 *
 * @param p - parameter buffer, updated in place.
 * @param g - gradient (read only).
 * @param m - first moment, updated in place.
 * @param v - second moment, updated in place.
 */
export function nadamUpdate(
  p: FloatArray,
  g: FloatArray,
  m: FloatArray,
  v: FloatArray,
  beta1: number,
  beta2: number,
  bc2: number,
  eps: number,
  gradCoef: number,
  momentumCoef: number,
  weightDecay: number,
  maximize: boolean,
): void {
  const n = p.length;
  const sign = maximize ? -1 : 1;
  const c1 = 1 - beta1;
  const c2 = 1 - beta2;
  for (let i = 0; i < n; i++) {
    const gi = sign * g[i]! + weightDecay * p[i]!;
    m[i] = beta1 * m[i]! + c1 * gi;
    v[i] = beta2 * v[i]! + c2 * (gi * gi);
    const denom = Math.sqrt(v[i]! / bc2) + eps;
    p[i] = p[i]! - (gradCoef * gi) / denom;
    p[i] = p[i]! - (momentumCoef * m[i]!) / denom;
  }
}
