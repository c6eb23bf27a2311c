import { checkInteger, checkPositive } from '@opt/core';
import type { FloatArray } from '@opt/tensor';
import { TestFunction, type TestFunctionOptions, filled } from './test-function.js';

/** Options of {@link Rosenbrock}. */
export interface RosenbrockOptions extends TestFunctionOptions {
  /** Number of variables n ≥ 2. Default 2. */
  dimension?: number;
  /** The curvature of the valley, b > 0. Default 100. */
  b?: number;
}

/**
 * The n-dimensional Rosenbrock function (the chained form, a = 1):
 *
 * ```
 * f(x) = Σ_{i=0}^{n−2} [ b·(x_{i+1} − x_i²)² + (1 − x_i)² ]
 * ∂f/∂x_i = [i > 0]·2b·(x_i − x_{i−1}²) + [i < n−1]·(−4b·x_i·(x_{i+1} − x_i²) − 2·(1 − x_i))
 * ∇²f is tridiagonal:  H_ii = [i > 0]·2b + [i < n−1]·(12b·x_i² − 4b·x_{i+1} + 2),  H_{i,i+1} = −4b·x_i
 * ```
 *
 * Global minimum 0 at x* = (1, …, 1); for 4 ≤ n ≤ 7 there is also a local
 * minimum near (−1, 1, …, 1). The standard start is (−1.2, 1, −1.2, 1, …)
 * (Moré, Garbow & Hillstrom, 1981). The Hessian-vector product is O(n).
 *
 * @example
 * ```ts
 * const f = new Rosenbrock({ dimension: 10 });
 * f.lossAndGrad(); // f at (−1.2, 1, …), gradient in f.x.grad
 * ```
 */
export class Rosenbrock extends TestFunction {
  /** The valley curvature b. */
  readonly b: number;
  readonly minimum = 0;
  readonly minimizers: readonly Float64Array[];

  constructor(options: RosenbrockOptions = {}) {
    const n = options.dimension ?? 2;
    checkInteger('Rosenbrock', 'dimension', n, 2);
    const start = Float64Array.from({ length: n }, (_, i) => (i % 2 === 0 ? -1.2 : 1));
    super(`rosenbrock-${n}`, n, start, options);
    this.b = checkPositive('Rosenbrock', 'b', options.b ?? 100);
    this.minimizers = [filled(n, 1)];
  }

  valueAt(x: ArrayLike<number>): number {
    const b = this.b;
    let f = 0;
    for (let i = 0; i + 1 < this.dimension; i++) {
      const xi = x[i]!;
      const t = x[i + 1]! - xi * xi;
      const u = 1 - xi;
      f += b * t * t + u * u;
    }
    return f;
  }

  gradientAt(x: ArrayLike<number>, out: FloatArray): number {
    const n = this.dimension;
    const b = this.b;
    let f = 0;
    // Each component gathers both terms it appears in before one store, so a
    // float32 gradient is rounded once rather than after each partial sum.
    let fromPrevious = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[i]!;
      let g = fromPrevious;
      if (i + 1 < n) {
        const t = x[i + 1]! - xi * xi;
        const u = 1 - xi;
        f += b * t * t + u * u;
        g += -4 * b * xi * t - 2 * u;
        fromPrevious = 2 * b * t;
      }
      out[i] = g;
    }
    return f;
  }

  hessianAt(x: ArrayLike<number>, out: FloatArray): void {
    const n = this.dimension;
    out.fill(0);
    for (let i = 0; i < n; i++) {
      out[i * n + i] = this.diagonal(x, i);
      if (i + 1 < n) {
        const off = -4 * this.b * x[i]!;
        out[i * n + i + 1] = off;
        out[(i + 1) * n + i] = off;
      }
    }
  }

  override hessianVectorProductAt(x: ArrayLike<number>, v: ArrayLike<number>, out: FloatArray): void {
    const n = this.dimension;
    const b = this.b;
    for (let i = 0; i < n; i++) {
      let s = this.diagonal(x, i) * v[i]!;
      if (i > 0) s += -4 * b * x[i - 1]! * v[i - 1]!;
      if (i + 1 < n) s += -4 * b * x[i]! * v[i + 1]!;
      out[i] = s;
    }
  }

  private diagonal(x: ArrayLike<number>, i: number): number {
    const b = this.b;
    let d = i > 0 ? 2 * b : 0;
    if (i + 1 < this.dimension) {
      const xi = x[i]!;
      d += 12 * b * xi * xi - 4 * b * x[i + 1]! + 2;
    }
    return d;
  }
}
