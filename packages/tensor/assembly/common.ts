// Shared helpers of the optimizer kernels. Every kernel is generic over the
// element type T (f32 or f64) and is instantiated twice by the exported
// wrappers in index.ts: a v128 holds 16 / sizeof<T>() lanes (4 floats or 2
// doubles), the SIMD loop covers the largest multiple of that, and a scalar
// tail with the very same operations covers the rest. Scalar and SIMD lanes
// round identically (IEEE add/mul/div/sqrt, no fused multiply-add), so an
// element's result never depends on whether it fell in the body or the tail.

/** Number of T lanes in a v128. */
// @ts-ignore: decorator
@inline export function lanes<T>(): i32 {
  return 16 / <i32>sizeof<T>();
}

/** Byte size of T as a shift amount (2 for f32, 3 for f64). */
// @ts-ignore: decorator
@inline export function shift<T>(): i32 {
  return sizeof<T>() == 4 ? 2 : 3;
}

/** `Math.sign` lane-wise: ±1 where |c| > 0, and c itself (±0 or NaN) elsewhere. */
// @ts-ignore: decorator
@inline export function vsign<T>(c: v128, one: v128, signBit: v128): v128 {
  const mag = v128.or(v128.and(c, signBit), one);
  return v128.bitselect(mag, c, v128.gt<T>(v128.abs<T>(c), v128.splat<T>(<T>0)));
}

/** `Math.sign` on one element, with the same NaN and signed-zero behaviour as {@link vsign}. */
// @ts-ignore: decorator
@inline export function ssign<T>(c: T): T {
  return abs<T>(c) > <T>0 ? copysign<T>(<T>1, c) : c;
}
