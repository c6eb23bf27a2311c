import type { FloatArray } from '../dtype.js';

/**
 * One fused SparseAdam step (PyTorch `_functional.sparse_adam`) on a dense
 * gradient read as sparse over dim 0: the buffers are `rows` consecutive rows of
 * `rowSize` elements, and a row whose gradient is exactly zero everywhere is not
 * part of the sparse gradient, so it is left untouched (moments and parameter).
 * Every other row, in place:
 *
 * ```
 * g = maximize ? -g : g
 * m = m + (g − m)·(1 − β1)
 * v = v + (g² − v)·(1 − β2)
 * p = p − stepSize · m / (sqrt(v) + eps)
 * ```
 *
 * with `stepSize = lr·sqrt(1 − β2^t)/(1 − β1^t)`: eps is added to the
 * **uncorrected** root of v.
 *
 * @param rowSize - elements per row (the product of the parameter's shape after dim 0; 1 for a vector).
 * @returns the number of rows updated.
 */
export function sparseAdamUpdate(
  p: FloatArray,
  g: FloatArray,
  m: FloatArray,
  v: FloatArray,
  rowSize: number,
  stepSize: number,
  beta1: number,
  beta2: number,
  eps: number,
  maximize: boolean,
): number {
  const n = p.length;
  const sign = maximize ? -1 : 1;
  const c1 = 1 - beta1;
  const c2 = 1 - beta2;
  let updated = 0;
  for (let start = 0; start < n; start += rowSize) {
    const end = start + rowSize < n ? start + rowSize : n;
    let j = start;
    while (j < end && g[j] === 0) j++;
    if (j === end) continue;
    updated++;
    for (let i = start; i < end; i++) {
      const gi = sign * g[i]!;
      m[i] = m[i]! + (gi - m[i]!) * c1;
      v[i] = v[i]! + (gi * gi - v[i]!) * c2;
      p[i] = p[i]! - (stepSize * m[i]!) / (Math.sqrt(v[i]!) + eps);
    }
  }
  return updated;
}
