import type { FloatArray } from '@opt/tensor';
import { TestFunction, type TestFunctionOptions } from './test-function.js';

/** The constants c_k of Beale's three residuals. */
const C = [1.5, 2.25, 2.625] as const;

/**
 * Beale's function on ℝ², a sum of three squared residuals
 * `r_k = c_k − x + x·y^k` (k = 1, 2, 3; c = 1.5, 2.25, 2.625):
 *
 * ```
 * f(x, y) = Σ_k r_k²
 * ∇f      = 2 Σ_k r_k·∇r_k,                       ∇r_k = (y^k − 1, k·x·y^{k−1})
 * ∇²f     = 2 Σ_k (∇r_k·∇r_kᵀ + r_k·∇²r_k),       ∇²r_k = [[0, k·y^{k−1}], [k·y^{k−1}, k(k−1)·x·y^{k−2}]]
 * ```
 *
 * Global minimum 0 at (3, 0.5), where every residual vanishes; flat plateaus and
 * sharp ridges near the corners of the usual domain [−4.5, 4.5]². Standard start (1, 1).
 *
 * @example
 * ```ts
 * const f = new Beale({ x0: [1, 1.5] });
 * f.valueAt([3, 0.5]); // 0
 * ```
 */
export class Beale extends TestFunction {
  readonly minimum = 0;
  readonly minimizers: readonly Float64Array[] = [Float64Array.of(3, 0.5)];

  constructor(options: TestFunctionOptions = {}) {
    super('beale', 2, [1, 1], options);
  }

  valueAt(p: ArrayLike<number>): number {
    const x = p[0]!;
    const y = p[1]!;
    let f = 0;
    let yk = 1;
    for (let k = 1; k <= 3; k++) {
      yk *= y;
      const r = C[k - 1]! - x + x * yk;
      f += r * r;
    }
    return f;
  }

  gradientAt(p: ArrayLike<number>, out: FloatArray): number {
    const x = p[0]!;
    const y = p[1]!;
    let f = 0;
    let gx = 0;
    let gy = 0;
    let ykm1 = 1; // y^{k−1}
    for (let k = 1; k <= 3; k++) {
      const yk = ykm1 * y;
      const r = C[k - 1]! - x + x * yk;
      f += r * r;
      gx += 2 * r * (yk - 1);
      gy += 2 * r * k * x * ykm1;
      ykm1 = yk;
    }
    out[0] = gx;
    out[1] = gy;
    return f;
  }

  hessianAt(p: ArrayLike<number>, out: FloatArray): void {
    const x = p[0]!;
    const y = p[1]!;
    let hxx = 0;
    let hxy = 0;
    let hyy = 0;
    let ykm2 = 0; // y^{k−2}, only used with the factor k−1 = 0 when k = 1
    let ykm1 = 1;
    for (let k = 1; k <= 3; k++) {
      const yk = ykm1 * y;
      const r = C[k - 1]! - x + x * yk;
      const dx = yk - 1;
      const dy = k * x * ykm1;
      hxx += 2 * dx * dx;
      hxy += 2 * (dx * dy + r * k * ykm1);
      hyy += 2 * (dy * dy + r * k * (k - 1) * x * ykm2);
      ykm2 = ykm1;
      ykm1 = yk;
    }
    out[0] = hxx;
    out[1] = hxy;
    out[2] = hxy;
    out[3] = hyy;
  }
}
