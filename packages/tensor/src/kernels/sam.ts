import type { FloatArray } from '../dtype.js';

/**
 * The squared norm that SAM / ASAM normalise the ascent direction by, for one
 * parameter: `Σ g²` (SAM), or `Σ ((|w| + η)·g)²` (ASAM's `‖T_w g‖²` with the
 * element-wise operator `T_w = |w| + η`).
 */
export function samGradNormSq(w: FloatArray, g: FloatArray, adaptive: boolean, eta: number): number {
  let s = 0;
  if (adaptive) {
    for (let i = 0; i < g.length; i++) {
      const t = (Math.abs(w[i]!) + eta) * g[i]!;
      s += t * t;
    }
  } else {
    for (let i = 0; i < g.length; i++) s += g[i]! * g[i]!;
  }
  return s;
}

/**
 * SAM's ascent step for one parameter, saving the original weights first:
 *
 * ```
 * old ← w
 * w   ← w + scale·g                 (SAM)
 * w   ← w + scale·(|w| + η)²·g      (ASAM)
 * ```
 *
 * with `scale = ρ / (‖·‖ + 1e-12)` computed by the caller over all parameters.
 */
export function samPerturb(w: FloatArray, g: FloatArray, old: FloatArray, scale: number, adaptive: boolean, eta: number): void {
  if (adaptive) {
    for (let i = 0; i < w.length; i++) {
      const wi = w[i]!;
      old[i] = wi;
      const t = Math.abs(wi) + eta;
      w[i] = wi + scale * (t * t) * g[i]!;
    }
  } else {
    for (let i = 0; i < w.length; i++) {
      const wi = w[i]!;
      old[i] = wi;
      w[i] = wi + scale * g[i]!;
    }
  }
}
