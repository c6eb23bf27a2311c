import type { FloatArray } from '@opt/tensor';
import { TestFunction, type TestFunctionOptions } from './test-function.js';

/**
 * The four zeros of Himmelblau's residuals, refined from 6-digit values
 * (Himmelblau, 1972) by Newton's method on r(x, y) = (x² + y − 11, x + y² − 7)
 * until they stop moving, so they are exact to float64 rounding.
 */
function himmelblauMinimizers(): Float64Array[] {
  const approximate: [number, number][] = [
    [3, 2],
    [-2.805118, 3.131312],
    [-3.77931, -3.283186],
    [3.584428, -1.848126],
  ];
  return approximate.map(([x0, y0]) => {
    let x = x0;
    let y = y0;
    for (let it = 0; it < 50; it++) {
      const r1 = x * x + y - 11;
      const r2 = x + y * y - 7;
      // Jacobian [[2x, 1], [1, 2y]], solved by Cramer's rule.
      const det = 4 * x * y - 1;
      const dx = (r1 * 2 * y - r2) / det;
      const dy = (2 * x * r2 - r1) / det;
      x -= dx;
      y -= dy;
      if (dx === 0 && dy === 0) break;
    }
    return Float64Array.of(x, y);
  });
}

/**
 * Himmelblau's function on ℝ², with four global minima:
 *
 * ```
 * f(x, y) = (x² + y − 11)² + (x + y² − 7)² = r₁² + r₂²
 * ∇f      = (4x·r₁ + 2r₂, 2r₁ + 4y·r₂)
 * ∇²f     = [[12x² + 4y − 42, 4(x + y)], [4(x + y), 4x + 12y² − 26]]
 * ```
 *
 * Minimum 0 at (3, 2), ≈(−2.805118, 3.131312), ≈(−3.779310, −3.283186) and
 * ≈(3.584428, −1.848126) (all four in {@link Himmelblau.minimizers}, to float64
 * precision); a local maximum at ≈(−0.270845, −0.923039). Standard start (0, 0).
 * Which minimum an optimizer reaches depends on the start.
 *
 * @example
 * ```ts
 * const f = new Himmelblau({ x0: [-3, 3] });
 * f.minimizers.length; // 4
 * ```
 */
export class Himmelblau extends TestFunction {
  readonly minimum = 0;
  readonly minimizers: readonly Float64Array[] = himmelblauMinimizers();

  constructor(options: TestFunctionOptions = {}) {
    super('himmelblau', 2, [0, 0], options);
  }

  valueAt(p: ArrayLike<number>): number {
    const x = p[0]!;
    const y = p[1]!;
    const r1 = x * x + y - 11;
    const r2 = x + y * y - 7;
    return r1 * r1 + r2 * r2;
  }

  gradientAt(p: ArrayLike<number>, out: FloatArray): number {
    const x = p[0]!;
    const y = p[1]!;
    const r1 = x * x + y - 11;
    const r2 = x + y * y - 7;
    out[0] = 4 * x * r1 + 2 * r2;
    out[1] = 2 * r1 + 4 * y * r2;
    return r1 * r1 + r2 * r2;
  }

  hessianAt(p: ArrayLike<number>, out: FloatArray): void {
    const x = p[0]!;
    const y = p[1]!;
    const off = 4 * (x + y);
    out[0] = 12 * x * x + 4 * y - 42;
    out[1] = off;
    out[2] = off;
    out[3] = 4 * x + 12 * y * y - 26;
  }
}
