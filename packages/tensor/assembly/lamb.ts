import { lanes, shift } from './common';

/**
 * LAMB, part 1 (moments and direction), the first pass of `kernels/lamb.ts`:
 *   g = sign·g
 *   m = β1·m + (1 − β1)·g
 *   v = β2·v + (1 − β2)·(g·g)
 *   u = m / bc1 / (sqrt(v / bc2) + eps) + weightDecay·p
 * Returns Σ u² of the stored (element-type) u, in float64 and index order, so
 * that the trust ratio is the one of the direction actually applied. ‖p‖ comes
 * from `sumsqOrdered` (p does not move in this pass); the caller forms the
 * ratio and applies it with {@link lambApply}.
 * Scalars at `args` (f64): beta1, beta2, bc1, bc2, eps, weightDecay.
 */
export function lambDirection<T>(p: usize, g: usize, m: usize, v: usize, u: usize, n: i32, args: usize, maximize: i32): f64 {
  const sgn = <T>(maximize ? -1.0 : 1.0);
  const beta1 = load<f64>(args, 0);
  const beta2 = load<f64>(args, 8);
  const tb1 = <T>beta1;
  const tc1 = <T>(1.0 - beta1);
  const tb2 = <T>beta2;
  const tc2 = <T>(1.0 - beta2);
  const tbc1 = <T>load<f64>(args, 16);
  const tbc2 = <T>load<f64>(args, 24);
  const teps = <T>load<f64>(args, 32);
  const twd = <T>load<f64>(args, 40);
  const vsgn = v128.splat<T>(sgn);
  const vb1 = v128.splat<T>(tb1);
  const vc1 = v128.splat<T>(tc1);
  const vb2 = v128.splat<T>(tb2);
  const vc2 = v128.splat<T>(tc2);
  const vbc1 = v128.splat<T>(tbc1);
  const vbc2 = v128.splat<T>(tbc2);
  const veps = v128.splat<T>(teps);
  const vwd = v128.splat<T>(twd);
  const body = n & ~(lanes<T>() - 1);
  const sh = shift<T>();
  let uSq: f64 = 0;
  let i = 0;
  for (; i < body; i += lanes<T>()) {
    const o = <usize>(i << sh);
    const gv = v128.mul<T>(vsgn, v128.load(g + o));
    const mv = v128.add<T>(v128.mul<T>(vb1, v128.load(m + o)), v128.mul<T>(vc1, gv));
    v128.store(m + o, mv);
    const sv = v128.add<T>(v128.mul<T>(vb2, v128.load(v + o)), v128.mul<T>(vc2, v128.mul<T>(gv, gv)));
    v128.store(v + o, sv);
    const den = v128.add<T>(v128.sqrt<T>(v128.div<T>(sv, vbc2)), veps);
    const uv = v128.add<T>(v128.div<T>(v128.div<T>(mv, vbc1), den), v128.mul<T>(vwd, v128.load(p + o)));
    v128.store(u + o, uv);
    if (sizeof<T>() == 4) {
      const lo = f64x2.promote_low_f32x4(uv);
      const hi = f64x2.promote_low_f32x4(v128.shuffle<f32>(uv, uv, 2, 3, 2, 3));
      const a = f64x2.mul(lo, lo);
      const b = f64x2.mul(hi, hi);
      uSq += f64x2.extract_lane(a, 0);
      uSq += f64x2.extract_lane(a, 1);
      uSq += f64x2.extract_lane(b, 0);
      uSq += f64x2.extract_lane(b, 1);
    } else {
      const a = f64x2.mul(uv, uv);
      uSq += f64x2.extract_lane(a, 0);
      uSq += f64x2.extract_lane(a, 1);
    }
  }
  for (; i < n; i++) {
    const o = <usize>(i << sh);
    const gi = sgn * load<T>(g + o);
    const mi = tb1 * load<T>(m + o) + tc1 * gi;
    store<T>(m + o, mi);
    const si = tb2 * load<T>(v + o) + tc2 * (gi * gi);
    store<T>(v + o, si);
    const ui = mi / tbc1 / (sqrt<T>(si / tbc2) + teps) + twd * load<T>(p + o);
    store<T>(u + o, ui);
    const ud = <f64>ui;
    uSq += ud * ud;
  }
  return uSq;
}

/**
 * LAMB, part 2: p = p − scale·u, with scale = lr·trustRatio formed by the
 * caller from ‖p‖ and the Σ u² that {@link lambDirection} returned.
 * Scalars at `args` (f64): scale.
 */
export function lambApply<T>(p: usize, u: usize, n: i32, args: usize): void {
  const ts = <T>load<f64>(args, 0);
  const vs = v128.splat<T>(ts);
  const body = n & ~(lanes<T>() - 1);
  const sh = shift<T>();
  let i = 0;
  for (; i < body; i += lanes<T>()) {
    const o = <usize>(i << sh);
    v128.store(p + o, v128.sub<T>(v128.load(p + o), v128.mul<T>(vs, v128.load(u + o))));
  }
  for (; i < n; i++) {
    const o = <usize>(i << sh);
    store<T>(p + o, load<T>(p + o) - ts * load<T>(u + o));
  }
}
