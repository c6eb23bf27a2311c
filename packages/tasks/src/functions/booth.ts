import type { FloatArray } from '@opt/tensor';
import { TestFunction, type TestFunctionOptions } from './test-function.js';

/**
 * Booth's function on ℝ², a convex quadratic:
 *
 * ```
 * f(x, y) = (x + 2y − 7)² + (2x + y − 5)²
 * ∇f      = (2r₁ + 4r₂, 4r₁ + 2r₂),   r₁ = x + 2y − 7,  r₂ = 2x + y − 5
 * ∇²f     = [[10, 8], [8, 10]]        (eigenvalues 18 and 2: condition number 9)
 * ```
 *
 * Global minimum 0 at (1, 3). Standard start (0, 0). One Newton step from any
 * point lands on the minimiser.
 *
 * @example
 * ```ts
 * const f = new Booth();
 * f.valueAt([1, 3]); // 0
 * ```
 */
export class Booth extends TestFunction {
  readonly minimum = 0;
  readonly minimizers: readonly Float64Array[] = [Float64Array.of(1, 3)];

  constructor(options: TestFunctionOptions = {}) {
    super('booth', 2, [0, 0], options);
  }

  valueAt(p: ArrayLike<number>): number {
    const r1 = p[0]! + 2 * p[1]! - 7;
    const r2 = 2 * p[0]! + p[1]! - 5;
    return r1 * r1 + r2 * r2;
  }

  gradientAt(p: ArrayLike<number>, out: FloatArray): number {
    const r1 = p[0]! + 2 * p[1]! - 7;
    const r2 = 2 * p[0]! + p[1]! - 5;
    out[0] = 2 * r1 + 4 * r2;
    out[1] = 4 * r1 + 2 * r2;
    return r1 * r1 + r2 * r2;
  }

  hessianAt(_p: ArrayLike<number>, out: FloatArray): void {
    out[0] = 10;
    out[1] = 8;
    out[2] = 8;
    out[3] = 10;
  }
}
