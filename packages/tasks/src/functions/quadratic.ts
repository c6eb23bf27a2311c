import { checkBoolean, checkFinite, checkInteger, checkPositive } from '@opt/core';
import { type FloatArray, InvalidOptionError, Rng, ShapeMismatchError } from '@opt/tensor';
import { TestFunction, type TestFunctionOptions } from './test-function.js';

/** Options of {@link IllConditionedQuadratic}. */
export interface IllConditionedQuadraticOptions extends TestFunctionOptions {
  /** Number of variables n ≥ 1. Default 10 (or the number of given `eigenvalues`). */
  dimension?: number;
  /**
   * The condition number κ ≥ 1: eigenvalues log-spaced in [1/κ, 1],
   * `λ_k = κ^(−k/(n−1))`. Default 100. Ignored when `eigenvalues` is given;
   * must be 1 when n = 1.
   */
  conditionNumber?: number;
  /** The eigenvalues (each finite and > 0), instead of the log-spaced ones. */
  eigenvalues?: ArrayLike<number>;
  /** Seed of the rotation and of the default centre. Default 0. */
  seed?: number;
  /** Rotate the eigenbasis by a random orthogonal matrix (else A is diagonal). Default true. */
  rotate?: boolean;
  /** The minimiser x* (length n). Default: N(0, 1) entries drawn from the seed after the rotation. */
  center?: ArrayLike<number>;
}

/**
 * A strictly convex quadratic with a chosen spectrum in a random basis:
 *
 * ```
 * f(x) = ½ (x − x*)ᵀ A (x − x*),   A = Q·diag(λ)·Qᵀ
 * ∇f   = A (x − x*),   ∇²f = A
 * ```
 *
 * The eigenvalues are log-spaced in [1/κ, 1] (so `λ_max/λ_min = κ` exactly up
 * to rounding) or given. Q is a seeded random orthogonal matrix, the product
 * of n Householder reflections `I − 2vvᵀ/(vᵀv)` with Gaussian v, so that A is
 * not diagonal and coordinate-wise methods (Adagrad, Adam) cannot exploit the
 * eigenbasis. Minimum 0 at x* (the `center`); standard start the origin.
 *
 * The gradient and the Hessian-vector product cost O(n²) (one pass over A).
 *
 * @example
 * ```ts
 * const f = new IllConditionedQuadratic({ dimension: 20, conditionNumber: 1e4, seed: 1 });
 * f.conditionNumber; // 1e4
 * ```
 */
export class IllConditionedQuadratic extends TestFunction {
  /** A, row-major n×n, symmetric. */
  readonly matrix: Float64Array;
  /** The eigenvalues λ, in the order of the columns of {@link IllConditionedQuadratic.eigenvectors}. */
  readonly eigenvalues: Float64Array;
  /** Q, row-major n×n: column k is the unit eigenvector of λ_k. */
  readonly eigenvectors: Float64Array;
  /** The minimiser x*. */
  readonly center: Float64Array;
  /** `max λ / min λ`. */
  readonly conditionNumber: number;
  readonly minimum = 0;
  readonly minimizers: readonly Float64Array[];

  constructor(options: IllConditionedQuadraticOptions = {}) {
    const where = 'IllConditionedQuadratic';
    const given = options.eigenvalues;
    const n = options.dimension ?? (given !== undefined ? given.length : 10);
    checkInteger(where, 'dimension', n, 1);
    super(`quadratic-${n}`, n, new Float64Array(n), options);
    const seed = checkFinite(where, 'seed', options.seed ?? 0);
    const rotate = checkBoolean(where, 'rotate', options.rotate ?? true);

    let lambda: Float64Array;
    if (given !== undefined) {
      if (given.length !== n) throw new ShapeMismatchError(`${where}: ${given.length} eigenvalues given for dimension ${n}`);
      lambda = Float64Array.from(given);
      lambda.forEach((l, i) => checkPositive(where, `eigenvalues[${i}]`, l));
    } else {
      const kappa = options.conditionNumber ?? 100;
      if (typeof kappa !== 'number' || !Number.isFinite(kappa) || !(kappa >= 1)) {
        throw new InvalidOptionError('conditionNumber', kappa, 'a finite number >= 1', where);
      }
      if (n === 1 && kappa !== 1) throw new InvalidOptionError('conditionNumber', kappa, '1 when dimension is 1', where);
      lambda = Float64Array.from({ length: n }, (_, k) => (n === 1 ? 1 : Math.pow(kappa, -k / (n - 1))));
    }
    this.eigenvalues = lambda;
    let lo = Infinity;
    let hi = 0;
    for (const l of lambda) {
      lo = Math.min(lo, l);
      hi = Math.max(hi, l);
    }
    // Exactly κ for the log-spaced spectrum (λ_0 = 1, λ_{n−1} = 1/κ up to one rounding).
    this.conditionNumber = given === undefined && n > 1 ? (options.conditionNumber ?? 100) : hi / lo;

    const rng = new Rng(seed);
    const q = new Float64Array(n * n);
    for (let i = 0; i < n; i++) q[i * n + i] = 1;
    if (rotate) {
      const v = new Float64Array(n);
      for (let r = 0; r < n; r++) {
        rng.fillNormal(v);
        let vv = 0;
        for (let i = 0; i < n; i++) vv += v[i]! * v[i]!;
        if (vv === 0) continue;
        // Q ← (I − 2vvᵀ/vᵀv)·Q, column by column: q_col −= (2 vᵀq_col / vᵀv)·v.
        for (let col = 0; col < n; col++) {
          let dot = 0;
          for (let i = 0; i < n; i++) dot += v[i]! * q[i * n + col]!;
          const f = (2 * dot) / vv;
          for (let i = 0; i < n; i++) q[i * n + col] = q[i * n + col]! - f * v[i]!;
        }
      }
    }
    this.eigenvectors = q;

    const a = new Float64Array(n * n);
    for (let i = 0; i < n; i++) {
      for (let j = i; j < n; j++) {
        let s = 0;
        for (let k = 0; k < n; k++) s += q[i * n + k]! * lambda[k]! * q[j * n + k]!;
        a[i * n + j] = s;
        a[j * n + i] = s;
      }
    }
    this.matrix = a;

    if (options.center !== undefined) {
      if (options.center.length !== n) throw new ShapeMismatchError(`${where}: center has ${options.center.length} elements, expected ${n}`);
      this.center = Float64Array.from(options.center);
      this.center.forEach((c, i) => checkFinite(where, `center[${i}]`, c));
    } else {
      this.center = rng.fillNormal(new Float64Array(n));
    }
    this.minimizers = [this.center];
  }

  valueAt(x: ArrayLike<number>): number {
    const n = this.dimension;
    const a = this.matrix;
    const c = this.center;
    let f = 0;
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let j = 0; j < n; j++) s += a[i * n + j]! * (x[j]! - c[j]!);
      f += 0.5 * (x[i]! - c[i]!) * s;
    }
    return f;
  }

  gradientAt(x: ArrayLike<number>, out: FloatArray): number {
    const n = this.dimension;
    const a = this.matrix;
    const c = this.center;
    let f = 0;
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let j = 0; j < n; j++) s += a[i * n + j]! * (x[j]! - c[j]!);
      f += 0.5 * (x[i]! - c[i]!) * s;
      out[i] = s;
    }
    return f;
  }

  hessianAt(_x: ArrayLike<number>, out: FloatArray): void {
    out.set(this.matrix);
  }

  override hessianVectorProductAt(_x: ArrayLike<number>, v: ArrayLike<number>, out: FloatArray): void {
    const n = this.dimension;
    const a = this.matrix;
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let j = 0; j < n; j++) s += a[i * n + j]! * v[j]!;
      out[i] = s;
    }
  }
}
