import type { FloatArray } from '../dtype.js';

/**
 * One fused AdaBound / AMSBound step (Luo et al. 2019, as the authors'
 * reference code `Luolc/AdaBound` computes it), in place on `p`, `m`, `v`
 * (and `vMax` for AMSBound):
 *
 * ```
 * g = maximize ? −g : g;  g = g + weightDecay·p          (L2 penalty, as the reference)
 * m = β1·m + (1 − β1)·g
 * v = β2·v + (1 − β2)·g²
 * vMax = max(vMax, v)                                    (AMSBound; used below in place of v)
 * η = clamp(stepSize / (√v + eps), lower, upper)         (element-wise learning rate)
 * p = p − η·m
 * ```
 *
 * with `stepSize = lr·√(1 − β2^t)/(1 − β1^t)`: the bias corrections sit in the
 * step size and eps is added to the uncorrected √v, so the clamp acts on the
 * bias-corrected per-element rate, exactly as the reference does.
 */
export function adaboundUpdate(
  p: FloatArray,
  g: FloatArray,
  m: FloatArray,
  v: FloatArray,
  vMax: FloatArray | null,
  stepSize: number,
  lower: number,
  upper: number,
  beta1: number,
  beta2: number,
  eps: number,
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
    let second = v[i]!;
    if (vMax !== null) {
      if (second > vMax[i]!) vMax[i] = second;
      second = vMax[i]!;
    }
    let eta = stepSize / (Math.sqrt(second) + eps);
    if (eta < lower) eta = lower;
    else if (eta > upper) eta = upper;
    p[i] = p[i]! - eta * m[i]!;
  }
}
