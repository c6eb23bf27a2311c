import type { FloatArray } from '../dtype.js';

/**
 * One fused Lion step (Chen et al. 2023, "Symbolic Discovery of Optimization
 * Algorithms", Program 1), in place on `p` and `m`:
 *
 * ```
 * p = decay·p                          (decoupled weight decay: decay = 1 − lr·weightDecay)
 * g = maximize ? −g : g
 * c = β1·m + (1 − β1)·g
 * p = p − lr·sign(c)                   (sign(0) = 0, as torch.sign)
 * m = β2·m + (1 − β2)·g
 * ```
 *
 * The interpolation `c` used for the update and the momentum `m` kept in state
 * use different betas; `c` is never stored, so the step needs no scratch buffer.
 */
export function lionUpdate(
  p: FloatArray,
  g: FloatArray,
  m: FloatArray,
  lr: number,
  beta1: number,
  beta2: number,
  decay: number,
  maximize: boolean,
): void {
  const n = p.length;
  const sign = maximize ? -1 : 1;
  const c1 = 1 - beta1;
  const c2 = 1 - beta2;
  for (let i = 0; i < n; i++) {
    if (decay !== 1) p[i] = p[i]! * decay;
    const gi = sign * g[i]!;
    const mi = m[i]!;
    const c = beta1 * mi + c1 * gi;
    p[i] = p[i]! - lr * Math.sign(c);
    m[i] = beta2 * mi + c2 * gi;
  }
}
