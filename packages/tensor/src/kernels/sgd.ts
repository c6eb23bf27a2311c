import type { FloatArray } from '../dtype.js';

/**
 * One fused SGD step (PyTorch `_single_tensor_sgd`), in place on `p` and `buf`:
 *
 * ```
 * g = maximize ? -g : g;  g = g + weightDecay·p
 * buf = first ? g : momentum·buf + (1 − dampening)·g     (only when momentum ≠ 0)
 * d = nesterov ? g + momentum·buf : buf                   (d = g without momentum)
 * p = p − lr·d
 * ```
 *
 * `buf` is `null` when momentum is 0. `first` marks the step that creates the
 * buffer: PyTorch copies the gradient there, without the `(1 − dampening)` factor.
 */
export function sgdUpdate(
  p: FloatArray,
  g: FloatArray,
  buf: FloatArray | null,
  lr: number,
  momentum: number,
  dampening: number,
  weightDecay: number,
  nesterov: boolean,
  maximize: boolean,
  first: boolean,
): void {
  const n = p.length;
  const sign = maximize ? -1 : 1;
  if (buf === null) {
    for (let i = 0; i < n; i++) {
      const gi = sign * g[i]! + weightDecay * p[i]!;
      p[i] = p[i]! - lr * gi;
    }
    return;
  }
  const keep = 1 - dampening;
  for (let i = 0; i < n; i++) {
    const gi = sign * g[i]! + weightDecay * p[i]!;
    // Round through the buffer's dtype before reusing it, as PyTorch does.
    buf[i] = first ? gi : momentum * buf[i]! + keep * gi;
    const d = nesterov ? gi + momentum * buf[i]! : buf[i]!;
    p[i] = p[i]! - lr * d;
  }
}
