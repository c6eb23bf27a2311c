import type { FloatArray } from '../dtype.js';

/**
 * One fused Adam / AdamW step (PyTorch `_single_tensor_adam(w)`), in place on
 * `p`, `m`, `v` (and `vMax` for AMSGrad):
 *
 * ```
 * p = decay·p                                   (AdamW: decay = 1 − lr·weightDecay; Adam: 1)
 * g = maximize ? -g : g;  g = g + l2·p          (Adam's L2 weight decay; AdamW: l2 = 0)
 * m = β1·m + (1 − β1)·g
 * v = β2·v + (1 − β2)·g²
 * vMax = max(vMax, v)                           (AMSGrad, on the uncorrected v)
 * p = p − stepSize · m / (sqrt(v or vMax) · (1/sqrtBc2) + eps)
 * ```
 *
 * with `stepSize = lr / (1 − β1^t)` and `sqrtBc2 = sqrt(1 − β2^t)`: eps is added
 * after bias-correcting the second moment, exactly as PyTorch does. The bias
 * correction multiplies by the reciprocal `1/sqrtBc2` (formed once) where
 * PyTorch divides: one divide per element instead of two, which the wasm
 * kernel (same operation order, so bit-identical in float64) needs for speed;
 * it changes the denominator by about an ulp, far inside the fixtures' tolerances.
 */
export function adamUpdate(
  p: FloatArray,
  g: FloatArray,
  m: FloatArray,
  v: FloatArray,
  vMax: FloatArray | null,
  stepSize: number,
  sqrtBc2: number,
  beta1: number,
  beta2: number,
  eps: number,
  l2: number,
  decay: number,
  maximize: boolean,
): void {
  const n = p.length;
  const sign = maximize ? -1 : 1;
  const c1 = 1 - beta1;
  const c2 = 1 - beta2;
  const invBc2 = 1 / sqrtBc2;
  for (let i = 0; i < n; i++) {
    if (decay !== 1) p[i] = p[i]! * decay;
    const gi = sign * g[i]! + l2 * p[i]!;
    m[i] = beta1 * m[i]! + c1 * gi;
    v[i] = beta2 * v[i]! + c2 * (gi * gi);
    let second = v[i]!;
    if (vMax !== null) {
      if (second > vMax[i]!) vMax[i] = second;
      second = vMax[i]!;
    }
    p[i] = p[i]! - (stepSize * m[i]!) / (Math.sqrt(second) * invBc2 + eps);
  }
}
