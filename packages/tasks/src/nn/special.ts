/**
 * The error function and the standard normal distribution, accurate to a few
 * units in the last place of a float64 over the whole real line, for the exact
 * (erf-based) GELU. JavaScript has no `Math.erf`.
 *
 * Method: W. J. Cody's rational Chebyshev approximations ("Rational Chebyshev
 * approximations for the error function", Math. Comp. 23, 1969, pp. 631–638),
 * with the coefficients of his CALERF routine (netlib specfun), designed for
 * relative errors below 1e-18 in each of three ranges:
 *
 * ```
 * |x| ≤ 0.46875        erf(x)  ≈ x·R₁(x²)
 * 0.46875 < |x| ≤ 4    erfc(x) ≈ exp(−x²)·R₂(x)
 * |x| > 4              erfc(x) ≈ exp(−x²)/x·(1/√π + R₃(1/x²)/x²)
 * ```
 *
 * @packageDocumentation
 */

// R₁ numerator/denominator (|x| ≤ 0.46875).
const A0 = 3.1611237438705655;
const A1 = 113.86415415105016;
const A2 = 377.485237685302;
const A3 = 3209.3775891384694;
const A4 = 0.18577770618460315;
const B0 = 23.601290952344122;
const B1 = 244.02463793444417;
const B2 = 1282.6165260773723;
const B3 = 2844.236833439171;

// R₂ (0.46875 < |x| ≤ 4).
const C0 = 0.5641884969886701;
const C1 = 8.883149794388377;
const C2 = 66.11919063714163;
const C3 = 298.6351381974001;
const C4 = 881.952221241769;
const C5 = 1712.0476126340707;
const C6 = 2051.0783778260716;
const C7 = 1230.3393547979972;
const C8 = 2.1531153547440383e-8;
const D0 = 15.744926110709835;
const D1 = 117.6939508913125;
const D2 = 537.1811018620099;
const D3 = 1621.3895745666903;
const D4 = 3290.7992357334597;
const D5 = 4362.619090143247;
const D6 = 3439.3676741437216;
const D7 = 1230.3393548037495;

// R₃ (|x| > 4), in 1/x².
const P0 = 0.30532663496123236;
const P1 = 0.36034489994980445;
const P2 = 0.12578172611122926;
const P3 = 0.016083785148742275;
const P4 = 0.0006587491615298378;
const P5 = 0.016315387137302097;
const Q0 = 2.568520192289822;
const Q1 = 1.8729528499234604;
const Q2 = 0.5279051029514285;
const Q3 = 0.06051834131244132;
const Q4 = 0.0023352049762686918;

/** 1/√π. */
const INV_SQRT_PI = 0.5641895835477563;
/** erfc(x) underflows to 0 in float64 beyond this. */
const ERFC_ZERO = 26.55;
const SMALL = 0.46875;

/**
 * exp(−y²) without the relative error of squaring: y² is split as
 * `t² + (y − t)(y + t)` with `t` = y truncated to a multiple of 1/16, so `t²` is
 * exact and the rounding error of the product stays in the small second term.
 */
function expNegSquare(y: number): number {
  const t = Math.trunc(y * 16) / 16;
  return Math.exp(-t * t) * Math.exp(-(y - t) * (y + t));
}

/** erfc(y) for y > 0.46875 (Cody's second and third ranges). */
function erfcTail(y: number): number {
  if (y >= ERFC_ZERO) return 0;
  let r: number;
  if (y <= 4) {
    let num = C8 * y;
    let den = y;
    num = (num + C0) * y;
    den = (den + D0) * y;
    num = (num + C1) * y;
    den = (den + D1) * y;
    num = (num + C2) * y;
    den = (den + D2) * y;
    num = (num + C3) * y;
    den = (den + D3) * y;
    num = (num + C4) * y;
    den = (den + D4) * y;
    num = (num + C5) * y;
    den = (den + D5) * y;
    num = (num + C6) * y;
    den = (den + D6) * y;
    r = (num + C7) / (den + D7);
  } else {
    const z = 1 / (y * y);
    let num = P5 * z;
    let den = z;
    num = (num + P0) * z;
    den = (den + Q0) * z;
    num = (num + P1) * z;
    den = (den + Q1) * z;
    num = (num + P2) * z;
    den = (den + Q2) * z;
    num = (num + P3) * z;
    den = (den + Q3) * z;
    r = (z * (num + P4)) / (den + Q4);
    r = (INV_SQRT_PI - r) / y;
  }
  return expNegSquare(y) * r;
}

/** erf(x)/x·x for |x| ≤ 0.46875 (Cody's first range). */
function erfSmall(x: number): number {
  const z = x * x;
  let num = A4 * z;
  let den = z;
  num = (num + A0) * z;
  den = (den + B0) * z;
  num = (num + A1) * z;
  den = (den + B1) * z;
  num = (num + A2) * z;
  den = (den + B2) * z;
  return (x * (num + A3)) / (den + B3);
}

/**
 * The error function `erf(x) = 2/√π ∫₀ˣ exp(−t²) dt`, to about 1e-16 relative
 * error (Cody's rational approximations; see the module documentation).
 *
 * @example
 * ```ts
 * erf(1); // 0.8427007929497149
 * ```
 */
export function erf(x: number): number {
  if (Number.isNaN(x)) return x;
  const y = Math.abs(x);
  if (y <= SMALL) return erfSmall(x);
  // (0.5 − erfc) + 0.5 keeps the leading bits of erfc that 1 − erfc would round away.
  const r = 0.5 - erfcTail(y) + 0.5;
  return x < 0 ? -r : r;
}

/**
 * The complementary error function `erfc(x) = 1 − erf(x)`, computed directly
 * (not as 1 − erf) so it keeps full relative accuracy in the tail, where
 * erfc(x) is far below float64's epsilon (e.g. erfc(10) ≈ 2.09e-45).
 */
export function erfc(x: number): number {
  if (Number.isNaN(x)) return x;
  const y = Math.abs(x);
  if (y <= SMALL) return 1 - erfSmall(x);
  const r = erfcTail(y);
  return x < 0 ? 2 - r : r;
}

/** 1/√2. */
const SQRT1_2 = Math.SQRT1_2;
/** 1/√(2π). */
const INV_SQRT_2PI = 0.3989422804014327;

/**
 * The standard normal CDF `Φ(x) = erfc(−x/√2)/2`, through erfc so the lower tail
 * keeps its relative accuracy (1 + erf(x/√2) would cancel to 0 for x below about −8.3).
 */
export function normalCdf(x: number): number {
  return 0.5 * erfc(-x * SQRT1_2);
}

/** The standard normal density `φ(x) = exp(−x²/2)/√(2π)`. */
export function normalPdf(x: number): number {
  return INV_SQRT_2PI * Math.exp(-0.5 * x * x);
}
