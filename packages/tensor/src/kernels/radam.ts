import type { FloatArray } from '../dtype.js';

/**
 * One fused RAdam step (PyTorch `_single_tensor_radam`), in place on `p`, `m`, `v`:
 *
 * ```
 * g = maximize ? -g : g;  g = g + weightDecay·p
 * m = β1·m + (1 − β1)·g
 * v = β2·v + (1 − β2)·g²
 * rectified:  p = p − stepSize · m / (sqrt(v) + eps)
 * otherwise:  p = p − stepSize · m
 * ```
 *
 * The caller folds the scalars into `stepSize`: `lr·sqrt(1 − β2^t)·rect/(1 − β1^t)`
 * when the variance is tractable (ρt > 5), `lr/(1 − β1^t)` otherwise. eps is added to
 * the **uncorrected** root of v, as PyTorch does (unlike Adam).
 *
 * @param rectified - whether to divide by the adaptive denominator (ρt > 5).
 */
export function radamUpdate(
  p: FloatArray,
  g: FloatArray,
  m: FloatArray,
  v: FloatArray,
  beta1: number,
  beta2: number,
  stepSize: number,
  eps: number,
  rectified: boolean,
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
    const d = rectified ? Math.sqrt(v[i]!) + eps : 1;
    p[i] = p[i]! - (stepSize * m[i]!) / d;
  }
}
