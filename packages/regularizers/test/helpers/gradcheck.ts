/**
 * Finite-difference gradient checking for float64 buffers.
 *
 * Central differences `(f(x + h·e_i) − f(x − h·e_i)) / 2h` have O(h²) truncation
 * error, so with h ≈ 1e-6 and smooth functions the estimate agrees with an exact
 * analytic gradient to ~1e-8 relative; the default tolerance 1e-6 leaves room
 * for round-off in f. Errors are measured relative to max(1, |analytic|, |numeric|)
 * elementwise so that tiny gradients are compared absolutely.
 */

/** Options of {@link numericGradient} and {@link gradCheck}. */
export interface GradCheckOptions {
  /** Step of the central difference (default 1e-6). */
  h?: number;
  /** Relative tolerance (default 1e-6). */
  rtol?: number;
  /** Absolute floor of the scale used for the relative error (default 1). */
  scaleFloor?: number;
}

/** The result of a gradient check. */
export interface GradCheckResult {
  /** Largest scaled error over all coordinates. */
  maxError: number;
  /** Coordinate where the largest error occurred. */
  worstIndex: number;
  /** Analytic gradient at the worst coordinate. */
  analytic: number;
  /** Numeric gradient at the worst coordinate. */
  numeric: number;
  /** Whether maxError ≤ rtol. */
  ok: boolean;
}

/**
 * Numeric gradient of a scalar function `f` of the buffer `x` (float64),
 * by central differences. `x` is perturbed in place and restored exactly.
 */
export function numericGradient(f: () => number, x: Float64Array, h = 1e-6): Float64Array {
  const g = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const xi = x[i]!;
    x[i] = xi + h;
    const fp = f();
    x[i] = xi - h;
    const fm = f();
    x[i] = xi;
    g[i] = (fp - fm) / (2 * h);
  }
  return g;
}

/**
 * Compare an analytic gradient with the central-difference gradient of `f`
 * with respect to `x`. `f` must read `x` each time it is called (it is a
 * closure over the buffer) and must not mutate it.
 */
export function gradCheck(
  f: () => number,
  x: Float64Array,
  analytic: ArrayLike<number>,
  options: GradCheckOptions = {},
): GradCheckResult {
  const h = options.h ?? 1e-6;
  const rtol = options.rtol ?? 1e-6;
  const floor = options.scaleFloor ?? 1;
  if (analytic.length !== x.length) {
    throw new Error(`gradCheck: analytic gradient has length ${analytic.length}, x has ${x.length}`);
  }
  const numeric = numericGradient(f, x, h);
  let maxError = 0;
  let worstIndex = -1;
  for (let i = 0; i < x.length; i++) {
    const a = analytic[i]!;
    const n = numeric[i]!;
    const err = Math.abs(a - n) / Math.max(floor, Math.abs(a), Math.abs(n));
    if (!(err <= maxError)) {
      maxError = err;
      worstIndex = i;
    }
  }
  return {
    maxError,
    worstIndex,
    analytic: worstIndex >= 0 ? analytic[worstIndex]! : 0,
    numeric: worstIndex >= 0 ? numeric[worstIndex]! : 0,
    ok: maxError <= rtol,
  };
}

/**
 * Jest-friendly assertion: throws with a descriptive message when the check
 * fails, otherwise returns the result (so tests can also inspect maxError).
 */
export function expectGradClose(
  f: () => number,
  x: Float64Array,
  analytic: ArrayLike<number>,
  options: GradCheckOptions = {},
): GradCheckResult {
  const r = gradCheck(f, x, analytic, options);
  if (!r.ok) {
    throw new Error(
      `gradient check failed: max scaled error ${r.maxError.toExponential(3)} at index ${r.worstIndex} ` +
        `(analytic ${r.analytic}, numeric ${r.numeric}), tolerance ${options.rtol ?? 1e-6}`,
    );
  }
  return r;
}

/**
 * Vector-Jacobian check for a vector-valued map `y = F(x)`: with a fixed
 * random-looking cotangent `gy`, the scalar `⟨gy, F(x)⟩` has gradient
 * `Jᵀ gy`, which is what a backward function computes. `forward` writes F(x)
 * into `y` (read from the closure-captured `x`).
 */
export function expectVjpClose(
  forward: (y: Float64Array) => void,
  x: Float64Array,
  yLength: number,
  gy: Float64Array,
  backwardResult: ArrayLike<number>,
  options: GradCheckOptions = {},
): GradCheckResult {
  const y = new Float64Array(yLength);
  const f = (): number => {
    forward(y);
    let s = 0;
    for (let i = 0; i < yLength; i++) s += gy[i]! * y[i]!;
    return s;
  };
  return expectGradClose(f, x, backwardResult, options);
}

/** Deterministic pseudo-random float64 values in [-1, 1) (a simple LCG; tests only). */
export function testValues(n: number, seed = 1): Float64Array {
  const out = new Float64Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 4294967296) * 2 - 1;
  }
  return out;
}
