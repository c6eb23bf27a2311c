import { checkFinite, checkInteger, checkNonNegative, choleskyFactor, choleskySolve } from '@opt/core';
import { type FloatArray, InvalidOptionError, Rng } from '@opt/tensor';
import { TestFunction, type TestFunctionOptions } from './test-function.js';

/** Options of {@link RandomLeastSquares}. */
export interface RandomLeastSquaresOptions extends TestFunctionOptions {
  /** Rows m (observations), m ≥ cols. Default 50. */
  rows?: number;
  /** Columns n (unknowns), n ≥ 1. Default 10. */
  cols?: number;
  /** Standard deviation σ ≥ 0 of the noise added to the targets. Default 0.1. */
  noise?: number;
  /** Seed of A, the planted solution and the noise. Default 0. */
  seed?: number;
}

/**
 * A seeded random linear least-squares problem:
 *
 * ```
 * f(x) = ½‖A·x − b‖²,   ∇f = Aᵀ(A·x − b),   ∇²f = AᵀA
 * A_ij ~ N(0, 1/m),   b = A·x_true + σ·ε,   x_true, ε ~ N(0, I)
 * ```
 *
 * The 1/m scaling makes `AᵀA ≈ I`: its eigenvalues fill the Marchenko–Pastur
 * interval [(1 − √(n/m))², (1 + √(n/m))²], so the conditioning is set by the
 * aspect ratio. A has full column rank almost surely (m ≥ n), so the minimiser
 * is unique: {@link RandomLeastSquares.solution} solves the normal equations
 * `AᵀA·x = Aᵀb` by Cholesky, and the minimum is `½‖A·x̂ − b‖²` (> 0 when σ > 0
 * and m > n). Standard start the origin. The Hessian-vector product
 * `Aᵀ(A·v)` costs O(mn) and the gradient uses a preallocated residual buffer.
 *
 * @example
 * ```ts
 * const f = new RandomLeastSquares({ rows: 100, cols: 20, seed: 3 });
 * const xHat = f.solution();
 * f.valueAt(xHat) === f.minimum; // true
 * ```
 */
export class RandomLeastSquares extends TestFunction {
  /** m. */
  readonly rows: number;
  /** n (also {@link TestFunction.dimension}). */
  readonly cols: number;
  /** A, row-major m×n. */
  readonly matrix: Float64Array;
  /** b (length m). */
  readonly target: Float64Array;
  /** The planted x_true that generated b (the minimiser when σ = 0). */
  readonly trueSolution: Float64Array;
  /** The noise level σ. */
  readonly noise: number;
  private readonly residual: Float64Array;
  private cachedSolution: Float64Array | null = null;

  constructor(options: RandomLeastSquaresOptions = {}) {
    const where = 'RandomLeastSquares';
    const m = checkInteger(where, 'rows', options.rows ?? 50, 1);
    const n = checkInteger(where, 'cols', options.cols ?? 10, 1);
    if (m < n) throw new InvalidOptionError('rows', m, `an integer >= cols (${n}) so that the minimiser is unique`, where);
    super(`least-squares-${m}x${n}`, n, new Float64Array(n), options);
    this.rows = m;
    this.cols = n;
    this.noise = checkNonNegative(where, 'noise', options.noise ?? 0.1);
    const rng = new Rng(checkFinite(where, 'seed', options.seed ?? 0));
    this.matrix = rng.fillNormal(new Float64Array(m * n), 0, 1 / Math.sqrt(m));
    this.trueSolution = rng.fillNormal(new Float64Array(n));
    this.target = new Float64Array(m);
    for (let i = 0; i < m; i++) {
      let s = 0;
      for (let j = 0; j < n; j++) s += this.matrix[i * n + j]! * this.trueSolution[j]!;
      this.target[i] = s + this.noise * rng.normal();
    }
    this.residual = new Float64Array(m);
  }

  /**
   * The unique minimiser x̂ = (AᵀA)⁻¹Aᵀb, from the normal equations by Cholesky
   * (computed once, then cached; a copy is returned).
   */
  solution(): Float64Array {
    if (this.cachedSolution === null) {
      const n = this.cols;
      const gram = new Float64Array(n * n);
      this.hessianAt(null, gram);
      const rhs = new Float64Array(n);
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let i = 0; i < this.rows; i++) s += this.matrix[i * n + j]! * this.target[i]!;
        rhs[j] = s;
      }
      const factor = new Float64Array(n * n);
      if (!choleskyFactor(gram, n, factor)) {
        throw new InvalidOptionError('seed', 'rank-deficient A', 'a matrix A of full column rank', 'RandomLeastSquares.solution');
      }
      const x = new Float64Array(n);
      choleskySolve(factor, n, rhs, x);
      this.cachedSolution = x;
    }
    return this.cachedSolution.slice();
  }

  /** The minimum value ½‖A·x̂ − b‖². */
  get minimum(): number {
    return this.valueAt(this.solution());
  }

  /** `[x̂]`: the unique minimiser. */
  get minimizers(): readonly Float64Array[] {
    return [this.solution()];
  }

  valueAt(x: ArrayLike<number>): number {
    const m = this.rows;
    const n = this.cols;
    let f = 0;
    for (let i = 0; i < m; i++) {
      let s = -this.target[i]!;
      for (let j = 0; j < n; j++) s += this.matrix[i * n + j]! * x[j]!;
      f += 0.5 * s * s;
    }
    return f;
  }

  gradientAt(x: ArrayLike<number>, out: FloatArray): number {
    const m = this.rows;
    const n = this.cols;
    const a = this.matrix;
    const r = this.residual;
    let f = 0;
    for (let i = 0; i < m; i++) {
      let s = -this.target[i]!;
      for (let j = 0; j < n; j++) s += a[i * n + j]! * x[j]!;
      r[i] = s;
      f += 0.5 * s * s;
    }
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let i = 0; i < m; i++) s += a[i * n + j]! * r[i]!;
      out[j] = s;
    }
    return f;
  }

  /** Write AᵀA (constant: the point is not read). */
  hessianAt(_x: ArrayLike<number> | null, out: FloatArray): void {
    const m = this.rows;
    const n = this.cols;
    const a = this.matrix;
    for (let j = 0; j < n; j++) {
      for (let k = j; k < n; k++) {
        let s = 0;
        for (let i = 0; i < m; i++) s += a[i * n + j]! * a[i * n + k]!;
        out[j * n + k] = s;
        out[k * n + j] = s;
      }
    }
  }

  override hessianVectorProductAt(_x: ArrayLike<number>, v: ArrayLike<number>, out: FloatArray): void {
    const m = this.rows;
    const n = this.cols;
    const a = this.matrix;
    const r = this.residual;
    for (let i = 0; i < m; i++) {
      let s = 0;
      for (let j = 0; j < n; j++) s += a[i * n + j]! * v[j]!;
      r[i] = s;
    }
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let i = 0; i < m; i++) s += a[i * n + j]! * r[i]!;
      out[j] = s;
    }
  }
}
