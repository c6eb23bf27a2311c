import type { FloatArray } from '../dtype.js';

/**
 * One LARS step (You, Gitman & Ginsburg 2017, "Large Batch Training of
 * Convolutional Networks", Algorithm 1), in place on `p` and `buf`. Returns the
 * trust ratio (local learning rate) it applied.
 *
 * ```
 * g = maximize ? −g : g
 * λ = η·‖p‖ / (‖g‖ + weightDecay·‖p‖ + eps)     (λ = 1 when ‖p‖ = 0, ‖g‖ = 0, or adapt is false)
 * u = lr·λ·(g + weightDecay·p)
 * buf = μ·buf + u                                (only when buf is given, i.e. momentum ≠ 0)
 * d = nesterov ? u + μ·buf : buf                 (d = u without momentum)
 * p = p − d
 * ```
 *
 * The learning rate sits inside the momentum buffer, as in the paper's
 * algorithm and the TensorFlow/optax references, so a learning-rate schedule
 * changes only new contributions. Both norms are taken in one reading pass
 * before the fused update pass: λ must be known before any element moves.
 */
export function larsUpdate(
  p: FloatArray,
  g: FloatArray,
  buf: FloatArray | null,
  lr: number,
  momentum: number,
  weightDecay: number,
  trustCoefficient: number,
  eps: number,
  nesterov: boolean,
  maximize: boolean,
  adapt: boolean,
): number {
  const n = p.length;
  let ratio = 1;
  if (adapt) {
    let pSq = 0;
    let gSq = 0;
    for (let i = 0; i < n; i++) {
      const pi = p[i]!;
      const gi = g[i]!;
      pSq += pi * pi;
      gSq += gi * gi;
    }
    const pNorm = Math.sqrt(pSq);
    const gNorm = Math.sqrt(gSq);
    if (pNorm > 0 && gNorm > 0) ratio = (trustCoefficient * pNorm) / (gNorm + weightDecay * pNorm + eps);
  }
  const scaled = lr * ratio;
  const sign = maximize ? -1 : 1;
  if (buf === null) {
    for (let i = 0; i < n; i++) p[i] = p[i]! - scaled * (sign * g[i]! + weightDecay * p[i]!);
    return ratio;
  }
  for (let i = 0; i < n; i++) {
    const ui = scaled * (sign * g[i]! + weightDecay * p[i]!);
    // Round through the buffer's dtype before reusing it, as the reference's in-place ops do.
    buf[i] = momentum * buf[i]! + ui;
    const d = nesterov ? ui + momentum * buf[i]! : buf[i]!;
    p[i] = p[i]! - d;
  }
  return ratio;
}
