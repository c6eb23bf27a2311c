import { circularSelfConvolve, ComplexDFT, linearConvolve, Radix2FFT } from '../src/math/fft';
import { integrate } from '../src/math/quadrature';
import { brentRoot } from '../src/math/roots';
import { erf, erfc, erfcx, logAddExp, logErfc, logNdtr, logSubExp, logSumExp, ndtr, ndtri } from '../src/math/special';
import { loadSpecialReference, relErr } from './fixtures/replay';

const REF = loadSpecialReference();

/** A deterministic pseudo-random sequence (LCG) for test signals. */
function signal(n: number, seed: number): Float64Array {
  const out = new Float64Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 32;
  }
  return out;
}

describe('special functions against 50-digit mpmath', () => {
  test.each(REF.erfc.map((r) => [r.x, r] as const))('erfc, erfcx and logErfc at x = %p', (x, r) => {
    // Below 1e-300 the reference itself is subnormal; logErfc carries the comparison there.
    if (r.erfc > 1e-300) expect(relErr(erfc(x), r.erfc)).toBeLessThan(4e-15);
    expect(relErr(logErfc(x), r.logErfc)).toBeLessThan(Math.abs(r.logErfc) < 1e-3 ? 1e-13 : 4e-15);
    // erfcx = exp(log erfc + x²); the double-precision sum loses ~x²·1e-16 relative, hence the looser bound.
    if (x > -5) expect(relErr(erfcx(x), Math.exp(r.logErfc + x * x))).toBeLessThan(1e-13 * Math.max(1, x * x));
  });

  test('logErfc stays finite and accurate where erfc underflows', () => {
    expect(erfc(1000)).toBe(0);
    // Asymptotically erfc(x) = e^{-x²}/(x√π)·(1 − 1/(2x²) + …).
    expect(logErfc(1000)).toBeCloseTo(-1000 * 1000 - Math.log(1000 * Math.sqrt(Math.PI)) + Math.log1p(-0.5e-6), 6);
    expect(logErfc(Infinity)).toBe(-Infinity);
  });

  test.each(REF.ndtri.map((r) => [r.p, r.x] as const))('ndtri(%p) inverts the normal CDF', (p, x) => {
    if (x === 0) expect(Math.abs(ndtri(p))).toBeLessThan(1e-15);
    else expect(relErr(ndtri(p), x)).toBeLessThan(1e-14);
  });

  test('the normal CDF, its logarithm and erf agree with each other', () => {
    for (const x of [-40, -10, -3, -0.5, 0, 0.7, 2, 6]) {
      expect(relErr(Math.exp(logNdtr(x)), ndtr(x))).toBeLessThan(1e-14);
      expect(Math.abs(erf(x / 10) + erfc(x / 10) - 1)).toBeLessThan(1e-15);
    }
    expect(ndtr(0)).toBe(0.5);
    expect(ndtri(0)).toBe(-Infinity);
    expect(ndtri(1)).toBe(Infinity);
    expect(Number.isNaN(ndtri(1.5))).toBe(true);
  });

  test('log-space arithmetic handles zeros and large magnitudes', () => {
    expect(logAddExp(-Infinity, 3)).toBe(3);
    expect(logAddExp(1000, 1000)).toBeCloseTo(1000 + Math.LN2, 12);
    expect(logSubExp(5, -Infinity)).toBe(5);
    expect(logSubExp(2, 2)).toBe(-Infinity);
    expect(Number.isNaN(logSubExp(1, 2))).toBe(true);
    expect(logSubExp(Math.log(3), Math.log(2))).toBeCloseTo(0, 14);
    expect(logSumExp([1000, 1000, 1000])).toBeCloseTo(1000 + Math.log(3), 12);
    expect(logSumExp([])).toBe(-Infinity);
  });
});

describe('FFT', () => {
  function naiveDft(re: Float64Array, im: Float64Array, inverse: boolean): [Float64Array, Float64Array] {
    const n = re.length;
    const or = new Float64Array(n);
    const oi = new Float64Array(n);
    const sign = inverse ? 1 : -1;
    for (let k = 0; k < n; k++) {
      for (let j = 0; j < n; j++) {
        const a = (sign * 2 * Math.PI * ((j * k) % n)) / n;
        or[k]! += re[j]! * Math.cos(a) - im[j]! * Math.sin(a);
        oi[k]! += re[j]! * Math.sin(a) + im[j]! * Math.cos(a);
      }
    }
    return [or, oi];
  }

  test.each([1, 2, 8, 64, 3, 6, 30, 97, 250])('a complex DFT of length %p matches the direct sum', (n) => {
    for (const inverse of [false, true]) {
      const re = signal(n, n);
      const im = signal(n, n + 7);
      const [er, ei] = naiveDft(re, im, inverse);
      new ComplexDFT(n).transform(re, im, inverse);
      for (let k = 0; k < n; k++) {
        expect(Math.abs(re[k]! - er[k]!)).toBeLessThan(1e-11 * n);
        expect(Math.abs(im[k]! - ei[k]!)).toBeLessThan(1e-11 * n);
      }
    }
  });

  test('the radix-2 FFT refuses a length that is not a power of two', () => {
    expect(() => new Radix2FFT(12)).toThrow(RangeError);
  });

  test.each([2, 8, 14, 64, 250])('circular k-fold self-convolution of length %p matches repeated direct convolution', (n) => {
    const x = signal(n, 3 * n);
    let sum = 0;
    for (const v of x) sum += v;
    for (let i = 0; i < n; i++) x[i]! /= sum;
    for (const k of [1, 2, 3, 5]) {
      let direct = Float64Array.from(x);
      for (let r = 1; r < k; r++) {
        const next = new Float64Array(n);
        for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) next[(i + j) % n]! += direct[i]! * x[j]!;
        direct = next;
      }
      const fast = circularSelfConvolve(x, k);
      for (let i = 0; i < n; i++) expect(Math.abs(fast[i]! - direct[i]!)).toBeLessThan(1e-14);
    }
  });

  test('linear convolution matches the direct sum', () => {
    const a = signal(37, 1);
    const b = signal(20, 2);
    const c = linearConvolve(a, b);
    expect(c).toHaveLength(56);
    for (let k = 0; k < c.length; k++) {
      let s = 0;
      for (let i = 0; i < a.length; i++) if (k - i >= 0 && k - i < b.length) s += a[i]! * b[k - i]!;
      expect(Math.abs(c[k]! - s)).toBeLessThan(1e-12);
    }
  });
});

describe('quadrature and root finding', () => {
  test('adaptive Gauss-Kronrod integrates smooth and moderately peaked functions to 1e-12', () => {
    expect(Math.abs(integrate(Math.exp, 0, 3) - Math.expm1(3))).toBeLessThan(1e-12);
    expect(Math.abs(integrate((x) => 1 / (1 + x * x), -50, 50) - 2 * Math.atan(50))).toBeLessThan(1e-12);
    const bump = (x: number) => Math.exp(-((x - 0.3) ** 2) / 2e-2);
    expect(relErr(integrate(bump, -3, 3), Math.sqrt(2e-2 * Math.PI))).toBeLessThan(1e-12);
    expect(integrate(Math.sin, 2, 2)).toBe(0);
  });

  test('a spike narrower than the node spacing needs break points around it (why the PRV mean adds them near log(1 - q))', () => {
    const spike = (x: number) => Math.exp(-((x - 0.3) ** 2) / 2e-8);
    const exact = Math.sqrt(2e-8 * Math.PI);
    expect(relErr(integrate(spike, -1, 1), exact)).toBeGreaterThan(0.5);
    const pts = [-1, 0.3 - 1e-3, 0.3 - 1e-4, 0.3, 0.3 + 1e-4, 0.3 + 1e-3, 1];
    let withBreaks = 0;
    for (let i = 0; i + 1 < pts.length; i++) withBreaks += integrate(spike, pts[i]!, pts[i + 1]!);
    expect(relErr(withBreaks, exact)).toBeLessThan(1e-10);
  });

  test("Brent's method finds bracketed roots and reports an unbracketed interval as NaN", () => {
    expect(Math.abs(brentRoot((x) => x * x - 2, 0, 2) - Math.SQRT2)).toBeLessThan(1e-11);
    expect(Math.abs(brentRoot(Math.cos, 0, 3) - Math.PI / 2)).toBeLessThan(1e-11);
    expect(brentRoot((x) => x - 1, 1, 5)).toBe(1);
    expect(Number.isNaN(brentRoot((x) => x * x + 1, -1, 1))).toBe(true);
  });
});
