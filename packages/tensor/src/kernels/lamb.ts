import type { FloatArray } from '../dtype.js';

/**
 * One LAMB step (You et al. 2019, "Large Batch Optimization for Deep Learning:
 * Training BERT in 76 minutes", Algorithm 2), in place on `p`, `m`, `v`, with
 * `u` a scratch buffer as long as `p`. Returns the trust ratio it applied.
 *
 * ```
 * g = maximize ? −g : g
 * m = β1·m + (1 − β1)·g
 * v = β2·v + (1 − β2)·g²
 * u = (m / bc1) / (√(v / bc2) + eps) + weightDecay·p     (bc1 = 1 − β1^t, bc2 = 1 − β2^t)
 * r = min(‖p‖, clampValue) / ‖u‖                          (r = 1 when ‖p‖ = 0 or ‖u‖ = 0)
 * p = p − lr·r·u
 * ```
 *
 * Two passes, necessarily: the ratio needs ‖u‖, a reduction over every element
 * of the finished direction, and no element of `p` may move before it is known
 * (‖p‖ must also be taken before the update). The first pass updates the
 * moments, writes `u` into the scratch buffer and accumulates ‖p‖² and ‖u‖²;
 * the second applies `p −= lr·r·u`. Storing `u` costs one buffer but spares the
 * second pass re-reading both moments and recomputing a square root and two
 * divisions per element. ‖u‖ is taken from the stored (dtype-rounded) values,
 * so the ratio matches the direction actually applied.
 */
export function lambUpdate(
  p: FloatArray,
  g: FloatArray,
  m: FloatArray,
  v: FloatArray,
  u: FloatArray,
  lr: number,
  beta1: number,
  beta2: number,
  bc1: number,
  bc2: number,
  eps: number,
  weightDecay: number,
  clampValue: number,
  maximize: boolean,
): number {
  const n = p.length;
  const sign = maximize ? -1 : 1;
  const c1 = 1 - beta1;
  const c2 = 1 - beta2;
  let pSq = 0;
  let uSq = 0;
  for (let i = 0; i < n; i++) {
    const gi = sign * g[i]!;
    const pi = p[i]!;
    m[i] = beta1 * m[i]! + c1 * gi;
    v[i] = beta2 * v[i]! + c2 * (gi * gi);
    u[i] = m[i]! / bc1 / (Math.sqrt(v[i]! / bc2) + eps) + weightDecay * pi;
    pSq += pi * pi;
    uSq += u[i]! * u[i]!;
  }
  const pNorm = Math.sqrt(pSq);
  const uNorm = Math.sqrt(uSq);
  const ratio = pNorm === 0 || uNorm === 0 ? 1 : Math.min(pNorm, clampValue) / uNorm;
  const scale = lr * ratio;
  for (let i = 0; i < n; i++) p[i] = p[i]! - scale * u[i]!;
  return ratio;
}
