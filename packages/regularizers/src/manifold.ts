/**
 * Manifold (graph-Laplacian) regularisation (Belkin, Niyogi & Sindhwani 2006):
 * outputs of similar inputs should be close.
 */
import { type FloatArray, ShapeMismatchError, checkNonNegative } from '@opt/core';
import { checkBuffer, checkShape } from './penalties-common.js';

/** Options of {@link laplacianRegularization}. */
export interface LaplacianOptions {
  /** Buffer receiving `+= ∂value/∂F` (same length as `F`); omitted/`null`: value only. */
  grad?: FloatArray | null;
}

/**
 * Graph-Laplacian regularisation of outputs `F` (`[n, k]`, row `f_i` per
 * sample) with a similarity matrix `S` (`[n, n]`, row-major, `S_ij ≥ 0` by
 * convention, not required):
 *
 * ```
 * value = λ·Σ_ij S_ij·‖f_i − f_j‖²  =  2λ·tr(Fᵀ L F)      (L = D − S, D = diag(Σ_j S_ij), S symmetric)
 * ∂/∂f_i = 2λ·Σ_j (S_ij + S_ji)·(f_i − f_j)           (= 4λ·(L F)_i for symmetric S)
 * ```
 *
 * The pairwise form is evaluated directly (`O(n²k)`, no `n × n` scratch), so
 * an asymmetric `S` is handled exactly (it acts as its symmetric part).
 *
 * @param f - outputs `[n, k]`.
 * @param shape - `[n, k]`.
 * @param similarity - `S`, `n·n` elements.
 * @param lambda - the strength λ ≥ 0.
 * @returns the value.
 * @example
 * ```ts
 * const F = new Float64Array([0, 1, 0.2, 0.9, 1, 0]);     // 3 samples, 2 outputs
 * const S = new Float64Array([0, 1, 0, 1, 0, 0.1, 0, 0.1, 0]);
 * const dF = new Float64Array(6);
 * const value = laplacianRegularization(F, [3, 2], S, 0.5, { grad: dF });
 * ```
 */
export function laplacianRegularization(
  f: FloatArray,
  shape: readonly number[],
  similarity: ArrayLike<number>,
  lambda: number,
  options: LaplacianOptions = {},
): number {
  const where = 'laplacianRegularization';
  checkNonNegative(where, 'lambda', lambda);
  checkBuffer(where, 'F', f, f.length);
  checkShape(where, 'F', shape, f.length, 2);
  if (shape.length !== 2) throw new ShapeMismatchError(`${where}: F must be [n, k], got shape [${shape.join(', ')}]`);
  const n = shape[0]!;
  const k = shape[1]!;
  if (similarity.length !== n * n) {
    throw new ShapeMismatchError(`${where}: similarity has ${similarity.length} elements, expected ${n}·${n} = ${n * n}`);
  }
  const grad = options.grad ?? null;
  if (grad !== null) checkBuffer(where, 'grad', grad, f.length);
  let total = 0;
  const coef = 2 * lambda;
  for (let i = 0; i < n; i++) {
    const ri = i * k;
    // Pairs (i, j) and (j, i) are visited together: each distance is computed once.
    for (let j = i + 1; j < n; j++) {
      const w = similarity[i * n + j]! + similarity[j * n + i]!;
      if (w === 0) continue;
      const rj = j * k;
      let d2 = 0;
      for (let t = 0; t < k; t++) {
        const d = f[ri + t]! - f[rj + t]!;
        d2 += d * d;
      }
      total += w * d2;
      if (grad !== null) {
        const cw = coef * w;
        for (let t = 0; t < k; t++) {
          const g = cw * (f[ri + t]! - f[rj + t]!);
          grad[ri + t] = grad[ri + t]! + g;
          grad[rj + t] = grad[rj + t]! - g;
        }
      }
    }
  }
  return lambda * total;
}

/**
 * The graph Laplacian `L = D − S` of a similarity matrix (`D = diag(Σ_j S_ij)`),
 * written into `out` (`n·n`, row-major), optionally the symmetric normalised
 * Laplacian `I − D^{-1/2} S D^{-1/2}` (a node of degree 0 gets a zero row and column
 * in `D^{-1/2} S D^{-1/2}`).
 *
 * @param similarity - `S`, `n·n` elements.
 * @param n - the number of nodes.
 * @param out - receives `L` (`n·n`).
 * @returns `out`.
 * @example
 * ```ts
 * const L = graphLaplacian([0, 1, 1, 0], 2, new Float64Array(4)); // [1, −1, −1, 1]
 * ```
 */
export function graphLaplacian<T extends FloatArray>(
  similarity: ArrayLike<number>,
  n: number,
  out: T,
  options: { normalized?: boolean } = {},
): T {
  const where = 'graphLaplacian';
  if (similarity.length !== n * n) {
    throw new ShapeMismatchError(`${where}: similarity has ${similarity.length} elements, expected ${n * n}`);
  }
  checkBuffer(where, 'out', out, n * n);
  const normalized = options.normalized ?? false;
  // Setup helper, not a per-step kernel: a float64 scratch keeps D^{-1/2} unrounded for float32 outputs.
  const inv = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let deg = 0;
    for (let j = 0; j < n; j++) deg += similarity[i * n + j]!;
    inv[i] = normalized ? (deg > 0 ? 1 / Math.sqrt(deg) : 0) : deg;
  }
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const s = similarity[i * n + j]!;
      if (normalized) out[i * n + j] = (i === j ? 1 : 0) - s * inv[i]! * inv[j]!;
      else out[i * n + j] = (i === j ? inv[i]! : 0) - s;
    }
  }
  return out;
}
