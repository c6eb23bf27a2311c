import { lanes, shift } from './common';

/**
 * Fused RAdam step, the operation order of `kernels/radam.ts`:
 *   g = sign·g + weightDecay·p
 *   m = β1·m + (1 − β1)·g
 *   v = β2·v + (1 − β2)·(g·g)
 *   rectified:  p = p − (stepSize·m) / (sqrt(v) + eps)
 *   otherwise:  p = p − stepSize·m          (the reference divides by 1, which is exact)
 * eps is added to the uncorrected root of v, as PyTorch does.
 * Scalars at `args` (f64): beta1, beta2, stepSize, eps, weightDecay.
 */
export function radam<T>(p: usize, g: usize, m: usize, v: usize, n: i32, args: usize, rectified: i32, maximize: i32): void {
  const sgn = <T>(maximize ? -1.0 : 1.0);
  const beta1 = load<f64>(args, 0);
  const beta2 = load<f64>(args, 8);
  const tb1 = <T>beta1;
  const tc1 = <T>(1.0 - beta1);
  const tb2 = <T>beta2;
  const tc2 = <T>(1.0 - beta2);
  const tss = <T>load<f64>(args, 16);
  const teps = <T>load<f64>(args, 24);
  const twd = <T>load<f64>(args, 32);
  const vsgn = v128.splat<T>(sgn);
  const vb1 = v128.splat<T>(tb1);
  const vc1 = v128.splat<T>(tc1);
  const vb2 = v128.splat<T>(tb2);
  const vc2 = v128.splat<T>(tc2);
  const vss = v128.splat<T>(tss);
  const veps = v128.splat<T>(teps);
  const vwd = v128.splat<T>(twd);
  const body = n & ~(lanes<T>() - 1);
  const sh = shift<T>();
  let i = 0;
  for (; i < body; i += lanes<T>()) {
    const o = <usize>(i << sh);
    const pv = v128.load(p + o);
    const gv = v128.add<T>(v128.mul<T>(vsgn, v128.load(g + o)), v128.mul<T>(vwd, pv));
    const mv = v128.add<T>(v128.mul<T>(vb1, v128.load(m + o)), v128.mul<T>(vc1, gv));
    v128.store(m + o, mv);
    const sv = v128.add<T>(v128.mul<T>(vb2, v128.load(v + o)), v128.mul<T>(vc2, v128.mul<T>(gv, gv)));
    v128.store(v + o, sv);
    let step = v128.mul<T>(vss, mv);
    if (rectified) step = v128.div<T>(step, v128.add<T>(v128.sqrt<T>(sv), veps));
    v128.store(p + o, v128.sub<T>(pv, step));
  }
  for (; i < n; i++) {
    const o = <usize>(i << sh);
    const pi = load<T>(p + o);
    const gi = sgn * load<T>(g + o) + twd * pi;
    const mi = tb1 * load<T>(m + o) + tc1 * gi;
    store<T>(m + o, mi);
    const si = tb2 * load<T>(v + o) + tc2 * (gi * gi);
    store<T>(v + o, si);
    let step = tss * mi;
    if (rectified) step = step / (sqrt<T>(si) + teps);
    store<T>(p + o, pi - step);
  }
}
