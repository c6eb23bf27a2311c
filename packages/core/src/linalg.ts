/**
 * Small dense linear algebra for the second-order optimizers ({@link Newton},
 * {@link LevenbergMarquardt}): Cholesky factorisation and solves, conjugate
 * gradient, and the Gauss–Newton products JᵀJ and Jᵀr. Matrices are row-major
 * `Float64Array`s; every routine writes into caller-provided buffers and
 * allocates nothing, so an optimizer can preallocate once and solve every step.
 *
 * @packageDocumentation
 */
import { ShapeMismatchError } from '@opt/tensor';

function checkLength(where: string, what: string, array: ArrayLike<number>, expected: number): void {
  if (array.length < expected) {
    throw new ShapeMismatchError(`${where}: ${what} has ${array.length} elements, expected at least ${expected}`);
  }
}

/**
 * Cholesky factorisation of the symmetric matrix `A + shift·D` (n×n, row-major):
 * the lower-triangular `L` with `L·Lᵀ = A + shift·D` is written into the lower
 * triangle of `out` (its strict upper triangle is zeroed). Only the lower
 * triangle of `a` is read. `D` is the identity when `diag` is omitted, else
 * `diag(diag)` (Marquardt's scaling).
 *
 * `out` may be `a` itself (in-place factorisation): every entry of `a` is read
 * before the same entry of `out` is written.
 *
 * @param a - the symmetric matrix, n×n row-major (lower triangle used).
 * @param n - the order.
 * @param out - receives `L`, n×n row-major.
 * @param shift - the damping λ added to the diagonal (default 0).
 * @param diag - optional diagonal scaling `D` (length n).
 * @returns `true` when the matrix is numerically positive definite (every pivot
 *   finite and > 0); `false` otherwise, with `out` partially overwritten.
 * @example
 * ```ts
 * const L = new Float64Array(4);
 * choleskyFactor(new Float64Array([4, 2, 2, 3]), 2, L); // L = [2, 0, 1, √2]
 * ```
 */
export function choleskyFactor(
  a: ArrayLike<number>,
  n: number,
  out: Float64Array,
  shift = 0,
  diag?: ArrayLike<number>,
): boolean {
  checkLength('choleskyFactor', 'a', a, n * n);
  checkLength('choleskyFactor', 'out', out, n * n);
  if (diag !== undefined) checkLength('choleskyFactor', 'diag', diag, n);
  for (let j = 0; j < n; j++) {
    const rowJ = j * n;
    let s = a[rowJ + j]! + shift * (diag === undefined ? 1 : diag[j]!);
    for (let k = 0; k < j; k++) s -= out[rowJ + k]! * out[rowJ + k]!;
    // `!(s > 0)` also rejects NaN pivots, so a poisoned matrix is reported as indefinite.
    if (!(s > 0) || s === Infinity) return false;
    const ljj = Math.sqrt(s);
    out[rowJ + j] = ljj;
    for (let i = j + 1; i < n; i++) {
      const rowI = i * n;
      let t = a[rowI + j]!;
      for (let k = 0; k < j; k++) t -= out[rowI + k]! * out[rowJ + k]!;
      out[rowI + j] = t / ljj;
    }
    for (let k = j + 1; k < n; k++) out[rowJ + k] = 0;
  }
  return true;
}

/**
 * Solve `L·Lᵀ·x = b` given the Cholesky factor `L` from {@link choleskyFactor}:
 * forward substitution `L·y = b`, then back substitution `Lᵀ·x = y`.
 * `x` may be the same buffer as `b`.
 *
 * @param l - the factor, n×n row-major lower triangular.
 * @param n - the order.
 * @param b - the right-hand side (length n).
 * @param x - receives the solution (length n).
 */
export function choleskySolve(l: ArrayLike<number>, n: number, b: ArrayLike<number>, x: Float64Array): void {
  checkLength('choleskySolve', 'l', l, n * n);
  checkLength('choleskySolve', 'b', b, n);
  checkLength('choleskySolve', 'x', x, n);
  for (let i = 0; i < n; i++) {
    const row = i * n;
    let s = b[i]!;
    for (let k = 0; k < i; k++) s -= l[row + k]! * x[k]!;
    x[i] = s / l[row + i]!;
  }
  for (let i = n - 1; i >= 0; i--) {
    let s = x[i]!;
    for (let k = i + 1; k < n; k++) s -= l[k * n + i]! * x[k]!;
    x[i] = s / l[i * n + i]!;
  }
}

/**
 * `y ← A·x` for a dense row-major m×n matrix.
 *
 * @param a - the matrix, m×n row-major.
 * @param m - rows.
 * @param n - columns.
 * @param x - length n.
 * @param y - receives the product, length m (must not alias `x`).
 */
export function matVec(a: ArrayLike<number>, m: number, n: number, x: ArrayLike<number>, y: Float64Array): void {
  checkLength('matVec', 'a', a, m * n);
  checkLength('matVec', 'x', x, n);
  checkLength('matVec', 'y', y, m);
  for (let i = 0; i < m; i++) {
    const row = i * n;
    let s = 0;
    for (let j = 0; j < n; j++) s += a[row + j]! * x[j]!;
    y[i] = s;
  }
}

/**
 * `y ← Jᵀ·r` for a dense row-major m×n matrix `J` (the Gauss–Newton gradient of ½‖r‖²).
 *
 * @param j - the matrix, m×n row-major.
 * @param m - rows.
 * @param n - columns.
 * @param r - length m.
 * @param y - receives the product, length n.
 */
export function matTVec(j: ArrayLike<number>, m: number, n: number, r: ArrayLike<number>, y: Float64Array): void {
  checkLength('matTVec', 'j', j, m * n);
  checkLength('matTVec', 'r', r, m);
  checkLength('matTVec', 'y', y, n);
  y.fill(0, 0, n);
  for (let i = 0; i < m; i++) {
    const row = i * n;
    const ri = r[i]!;
    for (let k = 0; k < n; k++) y[k] = y[k]! + j[row + k]! * ri;
  }
}

/**
 * `out ← Jᵀ·J` (n×n, row-major, both triangles filled) for a dense row-major
 * m×n matrix `J`: the Gauss–Newton approximation of the Hessian of ½‖r‖².
 *
 * @param j - the matrix, m×n row-major.
 * @param m - rows.
 * @param n - columns.
 * @param out - receives the n×n product.
 */
export function gramMatrix(j: ArrayLike<number>, m: number, n: number, out: Float64Array): void {
  checkLength('gramMatrix', 'j', j, m * n);
  checkLength('gramMatrix', 'out', out, n * n);
  for (let a = 0; a < n; a++) {
    for (let b = 0; b <= a; b++) {
      let s = 0;
      for (let i = 0; i < m; i++) s += j[i * n + a]! * j[i * n + b]!;
      out[a * n + b] = s;
      out[b * n + a] = s;
    }
  }
}

/** Why {@link ConjugateGradient.solve} stopped. */
export type CGStatus = 'converged' | 'max-iterations' | 'negative-curvature';

/** Computes `out ← A·v` for the (implicit) matrix of a {@link ConjugateGradient} solve. */
export type MatVec = (v: Float64Array, out: Float64Array) => void;

/**
 * Conjugate gradient for `(A + shift·I)·x = b` with `A` symmetric, given only
 * the product `v ↦ A·v` (a Hessian-vector product, say). Work buffers are
 * allocated once for the problem size; each solve allocates nothing.
 *
 * ```
 * r ← b − (A + shift·I)x,  p ← r
 * repeat: α = rᵀr / pᵀ(A + shift·I)p;  x ← x + αp;  r ← r − α(A + shift·I)p
 *         stop when ‖r‖ ≤ tolerance·‖b‖;  p ← r + (r_newᵀr_new / r_oldᵀr_old)·p
 * ```
 *
 * A direction with `pᵀ(A + shift·I)p ≤ 0` means the shifted matrix is not
 * positive definite; the solve stops with status `'negative-curvature'` (the
 * Newton optimizer then raises its damping).
 *
 * @example
 * ```ts
 * const cg = new ConjugateGradient(2);
 * const x = new Float64Array(2);
 * const A = [4, 1, 1, 3];
 * cg.solve((v, out) => matVec(A, 2, 2, v, out), new Float64Array([1, 2]), x, 10, 1e-12);
 * // x ≈ [1/11, 7/11], cg.status === 'converged'
 * ```
 */
export class ConjugateGradient {
  /** Problem size. */
  readonly n: number;
  /** Why the last solve stopped. */
  status: CGStatus = 'converged';
  /** Iterations (matrix-vector products after the initial residual) of the last solve. */
  iterations = 0;
  /** ‖b − (A + shift·I)x‖ at the end of the last solve. */
  residualNorm = 0;
  private readonly r: Float64Array;
  private readonly p: Float64Array;
  private readonly ap: Float64Array;

  /** @param n - the problem size (length of `b` and `x`). */
  constructor(n: number) {
    this.n = n;
    this.r = new Float64Array(n);
    this.p = new Float64Array(n);
    this.ap = new Float64Array(n);
  }

  /**
   * Solve in place, starting from the `x` given (zeros for a cold start).
   *
   * @param matvec - `out ← A·v`; must not keep references to its arguments.
   * @param b - the right-hand side.
   * @param x - the initial guess; receives the solution.
   * @param maxIterations - the largest number of CG iterations.
   * @param tolerance - relative residual target: stop when ‖r‖ ≤ tolerance·‖b‖.
   * @param shift - a multiple of the identity added to `A` (damping λ). Default 0.
   * @returns the status, also stored in {@link ConjugateGradient.status}.
   */
  solve(matvec: MatVec, b: ArrayLike<number>, x: Float64Array, maxIterations: number, tolerance: number, shift = 0): CGStatus {
    const { n, r, p, ap } = this;
    checkLength('ConjugateGradient.solve', 'b', b, n);
    checkLength('ConjugateGradient.solve', 'x', x, n);
    matvec(x, ap);
    let bb = 0;
    let rr = 0;
    for (let i = 0; i < n; i++) {
      const ri = b[i]! - ap[i]! - shift * x[i]!;
      r[i] = ri;
      p[i] = ri;
      rr += ri * ri;
      bb += b[i]! * b[i]!;
    }
    const target = tolerance * Math.sqrt(bb);
    this.iterations = 0;
    this.residualNorm = Math.sqrt(rr);
    this.status = 'converged';
    if (this.residualNorm <= target) return this.status;
    while (this.iterations < maxIterations) {
      matvec(p, ap);
      let pap = 0;
      for (let i = 0; i < n; i++) {
        ap[i] = ap[i]! + shift * p[i]!;
        pap += p[i]! * ap[i]!;
      }
      this.iterations++;
      if (!(pap > 0)) {
        this.status = 'negative-curvature';
        return this.status;
      }
      const alpha = rr / pap;
      let rrNew = 0;
      for (let i = 0; i < n; i++) {
        x[i] = x[i]! + alpha * p[i]!;
        const ri = r[i]! - alpha * ap[i]!;
        r[i] = ri;
        rrNew += ri * ri;
      }
      this.residualNorm = Math.sqrt(rrNew);
      if (this.residualNorm <= target) return this.status;
      const beta = rrNew / rr;
      rr = rrNew;
      for (let i = 0; i < n; i++) p[i] = r[i]! + beta * p[i]!;
    }
    this.status = 'max-iterations';
    return this.status;
  }
}
