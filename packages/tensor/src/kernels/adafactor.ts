import type { FloatArray } from '../dtype.js';

/** `a + w·(b − a)`, evaluated the way `torch.lerp` does (from the nearer end) for the same rounding. */
function lerp(a: number, b: number, w: number): number {
  return w < 0.5 ? a + w * (b - a) : b - (b - a) * (1 - w);
}

/**
 * One Adafactor step on a parameter of two or more dimensions (Shazeer & Stern
 * 2018, "Adafactor: Adaptive Learning Rates with Sublinear Memory Cost", as
 * `torch.optim.Adafactor` computes it), in place on `p`, `rowVar`, `colVar`
 * (and `expAvg` when a first moment is kept).
 *
 * The parameter is read as `slices` row-major `rows × cols` matrices (its last
 * two dimensions; `slices` = the product of the others). `rowVar` holds
 * `slices·rows` values, `colVar` `slices·cols`, and `colScratch` is a float64
 * work buffer of at least `cols` elements. With w = 1 − β̂2_t:
 *
 * ```
 * α = max(eps2, RMS(p))·rho                                 (RMS of p before this step)
 * R_i = lerp(R_i, mean_j G_ij², w);  C_j = lerp(C_j, mean_i G_ij², w)   (per slice)
 * V̂_ij = max(R_i·C_j / max(mean_i R_i, eps1), eps1²)
 * U_ij = G_ij / √V̂_ij
 * k = α / max(1, RMS(U)/d)                                   (update clipping over the whole parameter)
 * p = decay·p                                                (decay = 1 − lr·weightDecay)
 * expAvg = β1·expAvg + (1 − β1)·k·U;  p = p − expAvg         (with a first moment)
 * p = p − k·U                                                (without)
 * ```
 *
 * Three passes: the first accumulates RMS(p) and the factor means, the second
 * RMS(U) (the clipping needs it before any element moves), the third applies
 * the step. U is recomputed in the third pass rather than stored: Adafactor's
 * point is to keep no buffer as large as the parameter.
 */
export function adafactorFactoredUpdate(
  p: FloatArray,
  g: FloatArray,
  rowVar: FloatArray,
  colVar: FloatArray,
  colScratch: Float64Array,
  rows: number,
  cols: number,
  expAvg: FloatArray | null,
  rho: number,
  w: number,
  eps1: number,
  eps2: number,
  d: number,
  decay: number,
  beta1: number,
  maximize: boolean,
): void {
  const n = p.length;
  if (n === 0) return;
  const size = rows * cols;
  const slices = n / size;
  let pSq = 0;
  for (let b = 0; b < slices; b++) {
    const base = b * size;
    for (let j = 0; j < cols; j++) colScratch[j] = 0;
    for (let i = 0; i < rows; i++) {
      let acc = 0;
      const off = base + i * cols;
      for (let j = 0; j < cols; j++) {
        const pi = p[off + j]!;
        const gi = g[off + j]!;
        const g2 = gi * gi;
        pSq += pi * pi;
        acc += g2;
        colScratch[j] = colScratch[j]! + g2;
      }
      const r = b * rows + i;
      rowVar[r] = lerp(rowVar[r]!, acc / cols, w);
    }
    for (let j = 0; j < cols; j++) {
      const c = b * cols + j;
      colVar[c] = lerp(colVar[c]!, colScratch[j]! / rows, w);
    }
  }
  const alpha = Math.max(eps2, Math.sqrt(pSq / n)) * rho;
  const sign = maximize ? -1 : 1;
  const eps1Sq = eps1 * eps1;
  let uSq = 0;
  for (let b = 0; b < slices; b++) {
    const rowMean = rowMeanOf(rowVar, b * rows, rows, eps1);
    for (let i = 0; i < rows; i++) {
      const r = rowVar[b * rows + i]! / rowMean;
      const off = b * size + i * cols;
      const cOff = b * cols;
      for (let j = 0; j < cols; j++) {
        let vHat = r * colVar[cOff + j]!;
        if (vHat < eps1Sq) vHat = eps1Sq;
        const u = g[off + j]! / Math.sqrt(vHat);
        uSq += u * u;
      }
    }
  }
  const k = (sign * alpha) / Math.max(1, Math.sqrt(uSq / n) / d);
  const c1 = 1 - beta1;
  for (let b = 0; b < slices; b++) {
    const rowMean = rowMeanOf(rowVar, b * rows, rows, eps1);
    for (let i = 0; i < rows; i++) {
      const r = rowVar[b * rows + i]! / rowMean;
      const off = b * size + i * cols;
      const cOff = b * cols;
      for (let j = 0; j < cols; j++) {
        let vHat = r * colVar[cOff + j]!;
        if (vHat < eps1Sq) vHat = eps1Sq;
        const step = (k * g[off + j]!) / Math.sqrt(vHat);
        const e = off + j;
        if (decay !== 1) p[e] = p[e]! * decay;
        if (expAvg === null) {
          p[e] = p[e]! - step;
        } else {
          expAvg[e] = beta1 * expAvg[e]! + c1 * step;
          p[e] = p[e]! - expAvg[e]!;
        }
      }
    }
  }
}

/**
 * One Adafactor step on a parameter of zero or one dimension: the second
 * moment is kept whole (`variance`, as long as `p`), otherwise as
 * {@link adafactorFactoredUpdate}:
 *
 * ```
 * α = max(eps2, RMS(p))·rho
 * V = lerp(V, G², w);  U = G / √max(V, eps1²)
 * k = α / max(1, RMS(U)/d);  p = decay·p;  p = p − k·U   (or through expAvg as above)
 * ```
 */
export function adafactorVectorUpdate(
  p: FloatArray,
  g: FloatArray,
  variance: FloatArray,
  expAvg: FloatArray | null,
  rho: number,
  w: number,
  eps1: number,
  eps2: number,
  d: number,
  decay: number,
  beta1: number,
  maximize: boolean,
): void {
  const n = p.length;
  if (n === 0) return;
  const eps1Sq = eps1 * eps1;
  let pSq = 0;
  let uSq = 0;
  for (let i = 0; i < n; i++) {
    const pi = p[i]!;
    const gi = g[i]!;
    pSq += pi * pi;
    variance[i] = lerp(variance[i]!, gi * gi, w);
    const v = variance[i]!;
    const u = gi / Math.sqrt(v < eps1Sq ? eps1Sq : v);
    uSq += u * u;
  }
  const alpha = Math.max(eps2, Math.sqrt(pSq / n)) * rho;
  const sign = maximize ? -1 : 1;
  const k = (sign * alpha) / Math.max(1, Math.sqrt(uSq / n) / d);
  const c1 = 1 - beta1;
  for (let i = 0; i < n; i++) {
    const v = variance[i]!;
    const step = (k * g[i]!) / Math.sqrt(v < eps1Sq ? eps1Sq : v);
    if (decay !== 1) p[i] = p[i]! * decay;
    if (expAvg === null) {
      p[i] = p[i]! - step;
    } else {
      expAvg[i] = beta1 * expAvg[i]! + c1 * step;
      p[i] = p[i]! - expAvg[i]!;
    }
  }
}

/** max(mean of `rows` values of `rowVar` from `start`, eps1): the normaliser of one slice's factored estimate. */
function rowMeanOf(rowVar: FloatArray, start: number, rows: number, eps1: number): number {
  let s = 0;
  for (let i = 0; i < rows; i++) s += rowVar[start + i]!;
  const mean = s / rows;
  return mean < eps1 ? eps1 : mean;
}
