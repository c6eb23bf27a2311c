import type { FloatArray } from '../dtype.js';

/**
 * One fused RMSprop step (PyTorch `_single_tensor_rmsprop`), in place on `p`,
 * `squareAvg`, and `gradAvg` / `buf` when given:
 *
 * ```
 * g = maximize ? -g : g;  g = g + weightDecay·p
 * squareAvg = α·squareAvg + (1 − α)·g²
 * centered:  gradAvg = α·gradAvg + (1 − α)·g;  avg = sqrt(squareAvg − gradAvg²) + eps
 * otherwise: avg = sqrt(squareAvg) + eps
 * momentum:  buf = μ·buf + g/avg;  p = p − lr·buf
 * otherwise: p = p − lr·g/avg
 * ```
 *
 * eps is added outside the root, as PyTorch does.
 *
 * @param p - the parameter's values, updated in place.
 * @param g - the gradient (not modified).
 * @param squareAvg - running average of squared gradients, updated in place.
 * @param gradAvg - running average of gradients (centered RMSprop), or `null`.
 * @param buf - momentum buffer (momentum > 0), or `null`.
 * @param lr - learning rate.
 * @param alpha - smoothing constant α of the running averages.
 * @param eps - added to the root.
 * @param weightDecay - L2 penalty added to the gradient.
 * @param momentum - momentum factor μ (used only when `buf` is given).
 * @param maximize - ascend instead of descend.
 */
export function rmspropUpdate(
  p: FloatArray,
  g: FloatArray,
  squareAvg: FloatArray,
  gradAvg: FloatArray | null,
  buf: FloatArray | null,
  lr: number,
  alpha: number,
  eps: number,
  weightDecay: number,
  momentum: number,
  maximize: boolean,
): void {
  const n = p.length;
  const sign = maximize ? -1 : 1;
  const c = 1 - alpha;
  for (let i = 0; i < n; i++) {
    const gi = sign * g[i]! + weightDecay * p[i]!;
    squareAvg[i] = alpha * squareAvg[i]! + c * (gi * gi);
    let avg: number;
    if (gradAvg !== null) {
      gradAvg[i] = alpha * gradAvg[i]! + c * gi;
      avg = Math.sqrt(squareAvg[i]! - gradAvg[i]! * gradAvg[i]!) + eps;
    } else {
      avg = Math.sqrt(squareAvg[i]!) + eps;
    }
    if (buf !== null) {
      buf[i] = momentum * buf[i]! + gi / avg;
      p[i] = p[i]! - lr * buf[i]!;
    } else {
      p[i] = p[i]! - (lr * gi) / avg;
    }
  }
}
