import { checkNonNegative } from '@opt/core';
import type { FloatArray } from '@opt/tensor';
import { TestFunction, type TestFunctionOptions, filled } from './test-function.js';

/** Options of {@link Ackley}. */
export interface AckleyOptions extends TestFunctionOptions {
  /** Number of variables n ≥ 1. Default 2. */
  dimension?: number;
  /** Depth a of the outer funnel. Default 20. */
  a?: number;
  /** Steepness b of the funnel. Default 0.2. */
  b?: number;
  /** Frequency c of the cosine ripples. Default 2π. */
  c?: number;
}

/**
 * The n-dimensional Ackley function: a nearly flat outer region, many
 * shallow local minima and a deep cone-shaped funnel at the origin.
 * With r = √(Σx_i²/n) and m = Σcos(c·x_i)/n:
 *
 * ```
 * f(x)  = −a·exp(−b·r) − exp(m) + a + e
 * ∇f    = a·b·e^{−br}·x/(n·r) + e^{m}·(c/n)·sin(c·x)
 * ∇²f   = a·b·e^{−br}·[I/(n·r) − x·xᵀ·(1 + b·r)/(n²·r³)] − e^{m}·[∇m·∇mᵀ + diag(−c²·cos(c·x_i)/n)],
 *         ∇m = −(c/n)·sin(c·x)
 * ```
 *
 * Global minimum 0 at the origin. The origin is a cone point: `a·(1 − e^{−br})`
 * grows like `a·b·‖x‖/√n`, so f is not differentiable there. Its subdifferential
 * is the ball of radius `a·b/√n`, which contains 0, so the gradient reported at
 * the origin is 0 (the minimum-norm subgradient: optimizers see a stationary
 * point). The tangential curvature of the cone grows like 1/r, so no Hessian
 * exists there; at exactly the origin `hessian` reports the Hessian of the
 * smooth cosine term only (the cone's second derivative along every ray is 0).
 * Standard start (2, …, 2). The Hessian-vector product is O(n).
 *
 * @example
 * ```ts
 * const f = new Ackley({ dimension: 3 });
 * f.valueAt([0, 0, 0]); // 0 (up to rounding of a + e − a − e)
 * ```
 */
export class Ackley extends TestFunction {
  /** Funnel depth a. */
  readonly a: number;
  /** Funnel steepness b. */
  readonly b: number;
  /** Ripple frequency c. */
  readonly c: number;
  readonly minimum = 0;
  readonly minimizers: readonly Float64Array[];
  private r = 0;
  private em = 0;

  constructor(options: AckleyOptions = {}) {
    const n = options.dimension ?? 2;
    super(`ackley-${n}`, n, filled(n, 2), options);
    this.a = checkNonNegative('Ackley', 'a', options.a ?? 20);
    this.b = checkNonNegative('Ackley', 'b', options.b ?? 0.2);
    this.c = checkNonNegative('Ackley', 'c', options.c ?? 2 * Math.PI);
    this.minimizers = [new Float64Array(n)];
  }

  valueAt(x: ArrayLike<number>): number {
    const n = this.dimension;
    let s = 0;
    let cs = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[i]!;
      s += xi * xi;
      cs += Math.cos(this.c * xi);
    }
    const r = Math.sqrt(s / n);
    // Grouped so that the origin gives exactly 0: (a − a·1) + (e − e^{1}).
    return this.a * (1 - Math.exp(-this.b * r)) + (Math.E - Math.exp(cs / n));
  }

  gradientAt(x: ArrayLike<number>, out: FloatArray): number {
    const n = this.dimension;
    const { a, b, c } = this;
    let s = 0;
    let cs = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[i]!;
      s += xi * xi;
      cs += Math.cos(c * xi);
    }
    const r = Math.sqrt(s / n);
    const em = Math.exp(cs / n);
    const er = Math.exp(-b * r);
    // At r = 0 the cone term contributes its minimum-norm subgradient, 0.
    const cone = r > 0 ? (a * b * er) / (n * r) : 0;
    for (let i = 0; i < n; i++) {
      const xi = x[i]!;
      out[i] = cone * xi + (em * c * Math.sin(c * xi)) / n;
    }
    return a * (1 - er) + (Math.E - em);
  }

  hessianAt(x: ArrayLike<number>, out: FloatArray): void {
    const n = this.dimension;
    const { a, b, c } = this;
    this.moments(x);
    const r = this.r;
    const em = this.em;
    const er = Math.exp(-b * r);
    const radial = r > 0 ? (a * b * er) / (n * r) : 0;
    const outer = r > 0 ? (a * b * er * (1 + b * r)) / (n * n * r * r * r) : 0;
    // The upper triangle, mirrored, so that the stored matrix is exactly symmetric.
    for (let i = 0; i < n; i++) {
      const xi = x[i]!;
      const dmi = (-c * Math.sin(c * xi)) / n;
      for (let j = i; j < n; j++) {
        const xj = x[j]!;
        const dmj = (-c * Math.sin(c * xj)) / n;
        let h = -outer * xi * xj - em * dmi * dmj;
        if (i === j) h += radial + (em * c * c * Math.cos(c * xi)) / n;
        out[i * n + j] = h;
        out[j * n + i] = h;
      }
    }
  }

  override hessianVectorProductAt(x: ArrayLike<number>, v: ArrayLike<number>, out: FloatArray): void {
    const n = this.dimension;
    const { a, b, c } = this;
    this.moments(x);
    const r = this.r;
    const em = this.em;
    const er = Math.exp(-b * r);
    const radial = r > 0 ? (a * b * er) / (n * r) : 0;
    const outer = r > 0 ? (a * b * er * (1 + b * r)) / (n * n * r * r * r) : 0;
    let xv = 0;
    let dmv = 0;
    for (let i = 0; i < n; i++) {
      xv += x[i]! * v[i]!;
      dmv += ((-c * Math.sin(c * x[i]!)) / n) * v[i]!;
    }
    for (let i = 0; i < n; i++) {
      const xi = x[i]!;
      const dmi = (-c * Math.sin(c * xi)) / n;
      out[i] = radial * v[i]! - outer * xi * xv - em * dmi * dmv + ((em * c * c * Math.cos(c * xi)) / n) * v[i]!;
    }
  }

  /** Store r = √(Σx²/n) and e^m with m = Σcos(c·x)/n in fields (no object per call). */
  private moments(x: ArrayLike<number>): void {
    const n = this.dimension;
    let s = 0;
    let cs = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[i]!;
      s += xi * xi;
      cs += Math.cos(this.c * xi);
    }
    this.r = Math.sqrt(s / n);
    this.em = Math.exp(cs / n);
  }
}
