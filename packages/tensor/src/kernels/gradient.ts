import type { FloatArray } from '../dtype.js';

/**
 * x ← clamp(x, lo, hi), in place (`torch.clamp_`): NaN stays NaN, since it
 * compares false with both bounds.
 */
export function clampInPlace(x: FloatArray, lo: number, hi: number): void {
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    if (v > hi) x[i] = hi;
    else if (v < lo) x[i] = lo;
  }
}

/**
 * Gradient centralisation of a row-major `rows × cols` buffer, in place:
 * every row loses its mean, `x[r, c] ← x[r, c] − (1/cols)·Σ_c' x[r, c']`.
 * For a tensor of shape `[d0, d1, …]` this is "subtract the mean over every
 * dimension but the first" with `rows = d0`, `cols = d1·d2·…`. Means are
 * accumulated in float64.
 */
export function centralizeRows(x: FloatArray, rows: number, cols: number): void {
  if (cols === 0) return;
  for (let r = 0; r < rows; r++) {
    const start = r * cols;
    const end = start + cols;
    let sum = 0;
    for (let i = start; i < end; i++) sum += x[i]!;
    const mean = sum / cols;
    for (let i = start; i < end; i++) x[i] = x[i]! - mean;
  }
}

/** out ← a·x (out and x of equal length; out may be x). */
export function scaleInto(out: FloatArray, a: number, x: ArrayLike<number>): void {
  for (let i = 0; i < out.length; i++) out[i] = a * x[i]!;
}
