import type { FloatArray } from '../dtype.js';

/** {@link adabeliefUpdate} mode: `p −= stepSize·m / (√ŝ / √(1 − β2^t) + eps)`, ŝ the AMSGrad maximum when kept. */
export const ADABELIEF_ADAPTIVE = 0;
/** {@link adabeliefUpdate} mode: rectified step, `p −= stepSize·m / (√s + eps)` (the reference uses `s`, never the maximum, here). */
export const ADABELIEF_RECTIFIED = 1;
/** {@link adabeliefUpdate} mode: un-adapted step while the variance is intractable, `p −= stepSize·m`. */
export const ADABELIEF_MOMENTUM = 2;
/** {@link adabeliefUpdate} mode: moments and weight decay only, no step. */
export const ADABELIEF_NONE = 3;

/**
 * One fused AdaBelief step (Zhuang et al. 2020, as `adabelief_pytorch` computes
 * it), in place on `p`, `m`, `s` (and `sMax` for AMSGrad):
 *
 * ```
 * p = decay·p                                   (decoupled decay: decay = 1 − lr·weightDecay; else 1)
 * g = maximize ? −g : g;  g = g + l2·p          (coupled L2 penalty; 0 when decoupled)
 * m = β1·m + (1 − β1)·g
 * s = β2·s + (1 − β2)·(g − m)² + eps            (eps enters the state itself, as in the reference)
 * sMax = max(sMax, s)                           (AMSGrad)
 * mode ADAPTIVE:   p = p − stepSize·m / (√(sMax or s) / sqrtBc2 + eps)
 * mode RECTIFIED:  p = p − stepSize·m / (√s + eps)
 * mode MOMENTUM:   p = p − stepSize·m
 * mode NONE:       p unchanged
 * ```
 *
 * The residual `g − m` uses the freshly updated `m`. `s` is rounded to its
 * dtype before eps is added, reproducing the reference's two in-place ops.
 */
export function adabeliefUpdate(
  p: FloatArray,
  g: FloatArray,
  m: FloatArray,
  s: FloatArray,
  sMax: FloatArray | null,
  decay: number,
  l2: number,
  beta1: number,
  beta2: number,
  eps: number,
  mode: number,
  stepSize: number,
  sqrtBc2: number,
  maximize: boolean,
): void {
  const n = p.length;
  const sign = maximize ? -1 : 1;
  const c1 = 1 - beta1;
  const c2 = 1 - beta2;
  for (let i = 0; i < n; i++) {
    if (decay !== 1) p[i] = p[i]! * decay;
    const gi = sign * g[i]! + l2 * p[i]!;
    m[i] = beta1 * m[i]! + c1 * gi;
    const r = gi - m[i]!;
    s[i] = beta2 * s[i]! + c2 * (r * r);
    s[i] = s[i]! + eps;
    let second = s[i]!;
    if (sMax !== null) {
      if (second > sMax[i]!) sMax[i] = second;
      if (mode === ADABELIEF_ADAPTIVE) second = sMax[i]!;
    }
    if (mode === ADABELIEF_ADAPTIVE) p[i] = p[i]! - (stepSize * m[i]!) / (Math.sqrt(second) / sqrtBc2 + eps);
    else if (mode === ADABELIEF_RECTIFIED) p[i] = p[i]! - (stepSize * m[i]!) / (Math.sqrt(second) + eps);
    else if (mode === ADABELIEF_MOMENTUM) p[i] = p[i]! - stepSize * m[i]!;
  }
}
