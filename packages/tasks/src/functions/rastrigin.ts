import { checkNonNegative } from '@opt/core';
import type { FloatArray } from '@opt/tensor';
import { TestFunction, type TestFunctionOptions, filled } from './test-function.js';

/** Options of {@link Rastrigin}. */
export interface RastriginOptions extends TestFunctionOptions {
  /** Number of variables n ≥ 1. Default 2. */
  dimension?: number;
  /** Amplitude A ≥ 0 of the cosine modulation. Default 10. */
  amplitude?: number;
}

/**
 * The n-dimensional Rastrigin function, a convex bowl covered in a lattice of
 * local minima:
 *
 * ```
 * f(x)       = A·n + Σ_i (x_i² − A·cos(2π·x_i))
 * ∂f/∂x_i    = 2x_i + 2πA·sin(2π·x_i)
 * ∇²f        = diag(2 + 4π²A·cos(2π·x_i))          (separable: the Hessian is diagonal)
 * ```
 *
 * Global minimum 0 at the origin; a local minimum near every integer point.
 * Standard start (2.5, …, 2.5) in the usual domain [−5.12, 5.12]ⁿ. The
 * Hessian-vector product is O(n).
 *
 * @example
 * ```ts
 * const f = new Rastrigin({ dimension: 5 });
 * f.valueAt(new Float64Array(5)); // 0
 * ```
 */
export class Rastrigin extends TestFunction {
  /** The amplitude A. */
  readonly amplitude: number;
  readonly minimum = 0;
  readonly minimizers: readonly Float64Array[];

  constructor(options: RastriginOptions = {}) {
    const n = options.dimension ?? 2;
    super(`rastrigin-${n}`, n, filled(n, 2.5), options);
    this.amplitude = checkNonNegative('Rastrigin', 'amplitude', options.amplitude ?? 10);
    this.minimizers = [new Float64Array(n)];
  }

  valueAt(x: ArrayLike<number>): number {
    const a = this.amplitude;
    let f = a * this.dimension;
    for (let i = 0; i < this.dimension; i++) {
      const xi = x[i]!;
      f += xi * xi - a * Math.cos(2 * Math.PI * xi);
    }
    return f;
  }

  gradientAt(x: ArrayLike<number>, out: FloatArray): number {
    const a = this.amplitude;
    let f = a * this.dimension;
    for (let i = 0; i < this.dimension; i++) {
      const xi = x[i]!;
      const w = 2 * Math.PI * xi;
      f += xi * xi - a * Math.cos(w);
      out[i] = 2 * xi + 2 * Math.PI * a * Math.sin(w);
    }
    return f;
  }

  hessianAt(x: ArrayLike<number>, out: FloatArray): void {
    const n = this.dimension;
    out.fill(0);
    for (let i = 0; i < n; i++) out[i * n + i] = this.curvature(x[i]!);
  }

  override hessianVectorProductAt(x: ArrayLike<number>, v: ArrayLike<number>, out: FloatArray): void {
    for (let i = 0; i < this.dimension; i++) out[i] = this.curvature(x[i]!) * v[i]!;
  }

  private curvature(xi: number): number {
    return 2 + 4 * Math.PI * Math.PI * this.amplitude * Math.cos(2 * Math.PI * xi);
  }
}
