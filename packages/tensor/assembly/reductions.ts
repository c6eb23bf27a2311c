import { lanes, shift } from './common';

/**
 * Σ x² of a float32 buffer, accumulated in f64 (each lane promoted before it is
 * squared, as the JS reference squares in float64). Four f64 partial sums run
 * side by side, so the result matches the sequential JS sum to rounding of the
 * summation order only.
 */
export function sumsqF32(x: usize, n: i32): f64 {
  let a0 = f64x2.splat(0);
  let a1 = f64x2.splat(0);
  const body = n & ~3;
  let i = 0;
  for (; i < body; i += 4) {
    const v = v128.load(x + (<usize>i << 2));
    const lo = f64x2.promote_low_f32x4(v);
    const hi = f64x2.promote_low_f32x4(v128.shuffle<f32>(v, v, 2, 3, 2, 3));
    a0 = f64x2.add(a0, f64x2.mul(lo, lo));
    a1 = f64x2.add(a1, f64x2.mul(hi, hi));
  }
  const a = f64x2.add(a0, a1);
  let s = f64x2.extract_lane(a, 0) + f64x2.extract_lane(a, 1);
  for (; i < n; i++) {
    const xi = <f64>load<f32>(x + (<usize>i << 2));
    s += xi * xi;
  }
  return s;
}

/** Σ x² of a float64 buffer, with two f64x2 partial sums. */
export function sumsqF64(x: usize, n: i32): f64 {
  let a0 = f64x2.splat(0);
  let a1 = f64x2.splat(0);
  const body = n & ~3;
  let i = 0;
  for (; i < body; i += 4) {
    const o = <usize>i << 3;
    const v0 = v128.load(x + o);
    const v1 = v128.load(x + o, 16);
    a0 = f64x2.add(a0, f64x2.mul(v0, v0));
    a1 = f64x2.add(a1, f64x2.mul(v1, v1));
  }
  const a = f64x2.add(a0, a1);
  let s = f64x2.extract_lane(a, 0) + f64x2.extract_lane(a, 1);
  for (; i < n; i++) {
    const xi = load<f64>(x + (<usize>i << 3));
    s += xi * xi;
  }
  return s;
}

/**
 * max |x| (0 for an empty buffer, NaN when any element is NaN, as the JS
 * reference): the order of a max does not matter, so the result is exact.
 */
export function maxabs<T>(x: usize, n: i32): f64 {
  let acc = v128.splat<T>(<T>0);
  const body = n & ~(lanes<T>() - 1);
  const sh = shift<T>();
  let i = 0;
  for (; i < body; i += lanes<T>()) {
    acc = v128.max<T>(acc, v128.abs<T>(v128.load(x + (<usize>i << sh))));
  }
  let m = max<T>(v128.extract_lane<T>(acc, 0), v128.extract_lane<T>(acc, 1));
  if (sizeof<T>() == 4) m = max<T>(m, max<T>(v128.extract_lane<T>(acc, 2), v128.extract_lane<T>(acc, 3)));
  for (; i < n; i++) m = max<T>(m, abs<T>(load<T>(x + (<usize>i << sh))));
  return <f64>m;
}

/**
 * Index of the first NaN or ±Infinity, or −1. `x − x` is NaN exactly for those
 * values; four vectors are summed so one comparison screens 16 floats (8
 * doubles), and only a screened block that holds one is rescanned element-wise.
 */
export function nonfinite<T>(x: usize, n: i32): i32 {
  const step = lanes<T>() * 4;
  const body = n - n % step;
  const sh = shift<T>();
  let i = 0;
  for (; i < body; i += step) {
    const o = x + (<usize>i << sh);
    const v0 = v128.load(o);
    const v1 = v128.load(o, 16);
    const v2 = v128.load(o, 32);
    const v3 = v128.load(o, 48);
    const d = v128.add<T>(
      v128.add<T>(v128.sub<T>(v0, v0), v128.sub<T>(v1, v1)),
      v128.add<T>(v128.sub<T>(v2, v2), v128.sub<T>(v3, v3)),
    );
    if (v128.any_true(v128.ne<T>(d, d))) break;
  }
  for (; i < n; i++) {
    const xi = load<T>(x + (<usize>i << sh));
    const d = xi - xi;
    if (d != d) return i;
  }
  return -1;
}

/** x ← a·x, in place (the rescaling step of gradient clipping); `a` is the f64 at `args`. */
export function scale<T>(x: usize, n: i32, args: usize): void {
  const ta = <T>load<f64>(args, 0);
  const va = v128.splat<T>(ta);
  const body = n & ~(lanes<T>() - 1);
  const sh = shift<T>();
  let i = 0;
  for (; i < body; i += lanes<T>()) {
    const o = x + (<usize>i << sh);
    v128.store(o, v128.mul<T>(v128.load(o), va));
  }
  for (; i < n; i++) {
    const o = x + (<usize>i << sh);
    store<T>(o, load<T>(o) * ta);
  }
}
