import { checkInteger } from '@opt/core';
import {
  type DType,
  type FloatArray,
  InvalidOptionError,
  Parameter,
  ShapeMismatchError,
  allocate,
} from '@opt/tensor';
import type { Batch, Objective } from '../objective.js';

/** Options every test function accepts. */
export interface TestFunctionOptions {
  /** dtype of the parameter `x`. Default `'float64'`. */
  dtype?: DType;
  /** Starting point (length = the dimension). Default: the function's standard start, {@link TestFunction.initialPoint}. */
  x0?: ArrayLike<number>;
}

/**
 * A deterministic objective `f: ℝⁿ → ℝ` over one parameter `x` (shape `[n]`)
 * with an analytic gradient, a dense Hessian and a Hessian-vector product, and
 * its known minimum value and minimisers.
 *
 * Everything is computed in float64 (JavaScript numbers) from the stored
 * values of `x`, and each output element is rounded once when stored, so a
 * float32 parameter gets the float32 rounding of the exact float64 result.
 * The pure `*At` methods evaluate at any point without touching `x`; the
 * {@link Objective} methods evaluate at `x`. The batch argument is ignored.
 *
 * Subclasses implement {@link TestFunction.valueAt}, {@link TestFunction.gradientAt}
 * and {@link TestFunction.hessianAt}; the Hessian-vector product defaults to the
 * dense Hessian times `v` (an n×n scratch buffer allocated on first use), and
 * the n-dimensional functions override it with an O(n) or O(n²) product.
 *
 * @example
 * ```ts
 * import { LBFGS } from '@opt/core';
 * import { Beale } from '@opt/tasks';
 * const f = new Beale();
 * const opt = new LBFGS(f.parameters, { lineSearchFn: 'strong_wolfe' });
 * for (let i = 0; i < 10; i++) opt.step(() => f.lossAndGrad());
 * console.log(f.x.data, f.minimizers[0]); // ≈ [3, 0.5]
 * ```
 */
export abstract class TestFunction implements Objective {
  /** A readable name, e.g. `"rosenbrock-10"`. */
  readonly name: string;
  /** The point being optimised, shape `[dimension]`, named `"x"`. */
  readonly x: Parameter;
  /** `[x]`. */
  readonly parameters: Parameter[];
  /** The number of variables n. */
  readonly dimension: number;
  /** The starting point `x` is created at and {@link TestFunction.reset} restores (float64 copy). */
  readonly initialPoint: Float64Array;
  private hessianScratch: Float64Array | null = null;

  /** The global minimum value `f(x*)`. */
  abstract readonly minimum: number;
  /** The global minimisers (each a float64 point of length n; several when the minimum is attained more than once). */
  abstract readonly minimizers: readonly Float64Array[];

  /**
   * @param name - the readable name.
   * @param dimension - n ≥ 1.
   * @param standardStart - the start used when `options.x0` is omitted.
   * @param options - dtype and start.
   */
  protected constructor(name: string, dimension: number, standardStart: ArrayLike<number>, options: TestFunctionOptions) {
    checkInteger(name, 'dimension', dimension, 1);
    const dtype = options.dtype ?? 'float64';
    if (dtype !== 'float32' && dtype !== 'float64') {
      throw new InvalidOptionError('dtype', dtype, "'float32' or 'float64'", name);
    }
    const start = options.x0 ?? standardStart;
    if (start.length !== dimension) {
      throw new ShapeMismatchError(`${name}: x0 has ${start.length} elements but the dimension is ${dimension}`);
    }
    for (let i = 0; i < start.length; i++) {
      if (!Number.isFinite(start[i])) throw new InvalidOptionError(`x0[${i}]`, start[i], 'a finite number', name);
    }
    this.name = name;
    this.dimension = dimension;
    this.initialPoint = Float64Array.from(start);
    this.x = new Parameter(allocate(dtype, this.initialPoint), [dimension], 'x');
    this.parameters = [this.x];
  }

  /** Write {@link TestFunction.initialPoint} back into `x` (the gradient is left as it is). */
  reset(): void {
    this.x.data.set(this.initialPoint);
  }

  /** `f(x)` at any point of length n. */
  abstract valueAt(x: ArrayLike<number>): number;

  /** Write `∇f(x)` into `out` (length n) and return `f(x)`. */
  abstract gradientAt(x: ArrayLike<number>, out: FloatArray): number;

  /** Write the dense Hessian `∇²f(x)` into `out`, row-major n×n. */
  abstract hessianAt(x: ArrayLike<number>, out: FloatArray): void;

  /** `out ← ∇²f(x)·v` (default: through the dense Hessian; n-dimensional functions override it). */
  hessianVectorProductAt(x: ArrayLike<number>, v: ArrayLike<number>, out: FloatArray): void {
    const n = this.dimension;
    const h = (this.hessianScratch ??= new Float64Array(n * n));
    this.hessianAt(x, h);
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let j = 0; j < n; j++) s += h[i * n + j]! * v[j]!;
      out[i] = s;
    }
  }

  /** `f(x)` at the current parameter values. The batch is ignored (the function is deterministic). */
  loss(_batch?: Batch): number {
    return this.valueAt(this.x.data);
  }

  /** `f(x)`, overwriting `x.grad` with `∇f(x)`. The batch is ignored. */
  lossAndGrad(_batch?: Batch): number {
    return this.gradientAt(this.x.data, this.x.ensureGrad());
  }

  /** `out ← ∇²f(x)·v` at the current parameter values. */
  hessianVectorProduct(v: FloatArray, out: FloatArray): void {
    this.checkLength('hessianVectorProduct', 'v', v, this.dimension);
    this.checkLength('hessianVectorProduct', 'out', out, this.dimension);
    this.hessianVectorProductAt(this.x.data, v, out);
  }

  /** The dense Hessian at the current parameter values, row-major n×n. */
  hessian(out: FloatArray): void {
    this.checkLength('hessian', 'out', out, this.dimension * this.dimension);
    this.hessianAt(this.x.data, out);
  }

  private checkLength(method: string, what: string, array: ArrayLike<number>, expected: number): void {
    if (array.length !== expected) {
      throw new ShapeMismatchError(`${this.name}.${method}: ${what} has ${array.length} elements, expected ${expected}`);
    }
  }
}

/** A Float64Array of `n` copies of `value`. */
export function filled(n: number, value: number): Float64Array {
  return new Float64Array(n).fill(value);
}
