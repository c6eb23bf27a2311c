import type { FloatArray } from '../dtype.js';

/**
 * One fused Adadelta step (PyTorch `_single_tensor_adadelta`), in place on `p`,
 * `squareAvg` and `accDelta`:
 *
 * ```
 * g = maximize ? -g : g;  g = g + weightDecay·p
 * squareAvg = ρ·squareAvg + (1 − ρ)·g²
 * Δ = sqrt(accDelta + eps) / sqrt(squareAvg + eps) · g       (the old accDelta)
 * accDelta = ρ·accDelta + (1 − ρ)·Δ²
 * p = p − lr·Δ
 * ```
 *
 * eps sits inside both roots (Zeiler's RMS[x] = sqrt(E[x²] + eps)), unlike Adam
 * and RMSprop which add it after the root.
 *
 * @param p - the parameter's values, updated in place.
 * @param g - the gradient (not modified).
 * @param squareAvg - running average of squared gradients, updated in place.
 * @param accDelta - running average of squared updates, updated in place.
 * @param lr - scales the update Δ (PyTorch's default 1 gives the paper's rule).
 * @param rho - decay rate ρ of both running averages.
 * @param eps - added inside both roots.
 * @param weightDecay - L2 penalty added to the gradient.
 * @param maximize - ascend instead of descend.
 */
export function adadeltaUpdate(
  p: FloatArray,
  g: FloatArray,
  squareAvg: FloatArray,
  accDelta: FloatArray,
  lr: number,
  rho: number,
  eps: number,
  weightDecay: number,
  maximize: boolean,
): void {
  const n = p.length;
  const sign = maximize ? -1 : 1;
  const c = 1 - rho;
  for (let i = 0; i < n; i++) {
    const gi = sign * g[i]! + weightDecay * p[i]!;
    squareAvg[i] = rho * squareAvg[i]! + c * (gi * gi);
    const delta = (Math.sqrt(accDelta[i]! + eps) / Math.sqrt(squareAvg[i]! + eps)) * gi;
    accDelta[i] = rho * accDelta[i]! + c * (delta * delta);
    p[i] = p[i]! - lr * delta;
  }
}
