import type { FloatArray } from '../dtype.js';

/**
 * One fused Rprop step (PyTorch `_single_tensor_rprop`), in place on `p`, `prev`
 * and `stepSize`, per element:
 *
 * ```
 * g = maximize ? -g : g
 * s = sign(g·prev)
 * stepSize = clamp(stepSize·(s > 0 ? etaplus : s < 0 ? etaminus : 1), minStep, maxStep)
 * g = s < 0 ? 0 : g
 * p = p − sign(g)·stepSize
 * prev = g
 * ```
 *
 * The clamp applies even when the factor is 1, so an initial step size outside
 * `[minStep, maxStep]` is clamped on the first step. Storing the zeroed gradient in
 * `prev` makes the step after a sign change see `s = 0`. For float32 parameters pass
 * `Math.fround(eta)`: PyTorch writes the etas into a tensor of the parameter's dtype
 * before multiplying.
 */
export function rpropUpdate(
  p: FloatArray,
  g: FloatArray,
  prev: FloatArray,
  stepSize: FloatArray,
  etaminus: number,
  etaplus: number,
  minStep: number,
  maxStep: number,
  maximize: boolean,
): void {
  const n = p.length;
  const sign = maximize ? -1 : 1;
  for (let i = 0; i < n; i++) {
    let gi = sign * g[i]!;
    const s = gi * prev[i]!;
    let size = stepSize[i]!;
    if (s > 0) size *= etaplus;
    else if (s < 0) {
      size *= etaminus;
      gi = 0;
    }
    if (size < minStep) size = minStep;
    else if (size > maxStep) size = maxStep;
    stepSize[i] = size;
    if (gi > 0) p[i] = p[i]! - stepSize[i]!;
    else if (gi < 0) p[i] = p[i]! + stepSize[i]!;
    prev[i] = gi;
  }
}
