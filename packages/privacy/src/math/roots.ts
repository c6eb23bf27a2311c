/**
 * Scalar root finding: Brent's method (inverse quadratic interpolation safeguarded by bisection), as
 * scipy's `brentq`.
 *
 * @packageDocumentation
 */

// Module-level aliases of the global objects: inside a vm context (jest's test environment) every read
// of a global identifier such as `Math` or `Infinity` goes through the context's interceptor and costs
// 10-25x more than a local; these hot numerical loops read them millions of times.
const M = Math;
const N = Number;
const NAN = N.NaN;

/**
 * A root of f in [a, b], where f(a) and f(b) have opposite signs (or one is 0), to within
 * xtol + rtol·|x| (Brent 1973).
 *
 * @param f - a continuous function
 * @param a - one end of the bracket
 * @param b - the other end
 * @param xtol - absolute tolerance (default 2e-12, scipy's)
 * @param rtol - relative tolerance (default 4·2^-52, scipy's)
 * @param maxIter - iteration cap (default 200)
 * @returns the root, or `NaN` when f(a) and f(b) have the same sign
 */
export function brentRoot(
  f: (x: number) => number,
  a: number,
  b: number,
  xtol = 2e-12,
  rtol = 8.881784197001252e-16,
  maxIter = 200,
): number {
  let fa = f(a);
  let fb = f(b);
  if (fa === 0) return a;
  if (fb === 0) return b;
  if (fa * fb > 0 || N.isNaN(fa) || N.isNaN(fb)) return NAN;
  let c = a;
  let fc = fa;
  let d = b - a;
  let e = d;
  for (let it = 0; it < maxIter; it++) {
    if (fb * fc > 0) {
      c = a;
      fc = fa;
      d = b - a;
      e = d;
    }
    if (M.abs(fc) < M.abs(fb)) {
      a = b;
      b = c;
      c = a;
      fa = fb;
      fb = fc;
      fc = fa;
    }
    const tol = xtol + rtol * M.abs(b);
    const m = 0.5 * (c - b);
    if (M.abs(m) <= tol || fb === 0) return b;
    if (M.abs(e) >= tol && M.abs(fa) > M.abs(fb)) {
      let p: number;
      let q: number;
      const s = fb / fa;
      if (a === c) {
        p = 2 * m * s;
        q = 1 - s;
      } else {
        const qa = fa / fc;
        const r = fb / fc;
        p = s * (2 * m * qa * (qa - r) - (b - a) * (r - 1));
        q = (qa - 1) * (r - 1) * (s - 1);
      }
      if (p > 0) q = -q;
      else p = -p;
      if (2 * p < M.min(3 * m * q - M.abs(tol * q), M.abs(e * q))) {
        e = d;
        d = p / q;
      } else {
        d = m;
        e = m;
      }
    } else {
      d = m;
      e = m;
    }
    a = b;
    fa = fb;
    b += M.abs(d) > tol ? d : m > 0 ? tol : -tol;
    fb = f(b);
  }
  return b;
}
