import { lanes, shift } from './common';

/**
 * Σ x² in float64, added in index order (each element promoted to f64 before
 * it is squared): the very sum of the JS `sumOfSquares`, bit for bit. The
 * squares are formed two or four lanes at a time, but the additions stay one
 * sequential chain, because a norm that feeds a trust ratio or a clipping
 * coefficient must not depend on the backend. (The faster `sumsq` export
 * keeps partial sums and differs from the JS sum in the last bits.)
 */
export function sumsqOrdered<T>(x: usize, n: i32): f64 {
  let s: f64 = 0;
  let i = 0;
  if (sizeof<T>() == 4) {
    const body = n & ~3;
    for (; i < body; i += 4) {
      const v = v128.load(x + (<usize>i << 2));
      const lo = f64x2.promote_low_f32x4(v);
      const hi = f64x2.promote_low_f32x4(v128.shuffle<f32>(v, v, 2, 3, 2, 3));
      const a = f64x2.mul(lo, lo);
      const b = f64x2.mul(hi, hi);
      s += f64x2.extract_lane(a, 0);
      s += f64x2.extract_lane(a, 1);
      s += f64x2.extract_lane(b, 0);
      s += f64x2.extract_lane(b, 1);
    }
  } else {
    const body = n & ~1;
    for (; i < body; i += 2) {
      const v = v128.load(x + (<usize>i << 3));
      const a = f64x2.mul(v, v);
      s += f64x2.extract_lane(a, 0);
      s += f64x2.extract_lane(a, 1);
    }
  }
  const sh = shift<T>();
  for (; i < n; i++) {
    const xi = <f64>load<T>(x + (<usize>i << sh));
    s += xi * xi;
  }
  return s;
}

/**
 * Clip one buffer by its L2 norm, as `clipGradNorm` does for a single tensor:
 *   total = sqrt(Σ x²)                         (index order, see {@link sumsqOrdered})
 *   coef = min(maxNorm / (total + 1e-6), 1)    (NaN propagates, as torch.clamp)
 *   x = coef·x
 * and return total. The coefficient is applied even when it is 1, as PyTorch
 * applies it. Scalars at `args` (f64): maxNorm.
 */
export function clipNorm<T>(x: usize, n: i32, args: usize): f64 {
  const total = sqrt<f64>(sumsqOrdered<T>(x, n));
  const coef = load<f64>(args, 0) / (total + 1e-6);
  const tc = <T>(coef > 1.0 ? 1.0 : coef);
  const vc = v128.splat<T>(tc);
  const body = n & ~(lanes<T>() - 1);
  const sh = shift<T>();
  let i = 0;
  for (; i < body; i += lanes<T>()) {
    const o = x + (<usize>i << sh);
    v128.store(o, v128.mul<T>(v128.load(o), vc));
  }
  for (; i < n; i++) {
    const o = x + (<usize>i << sh);
    store<T>(o, load<T>(o) * tc);
  }
  return total;
}
