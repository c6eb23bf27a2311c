import { lanes, shift } from './common';

/**
 * Fused NAdam step, the operation order of `kernels/nadam.ts`:
 *   g = sign·g + weightDecay·p
 *   m = β1·m + (1 − β1)·g
 *   v = β2·v + (1 − β2)·(g·g)
 *   denom = sqrt(v / bc2) + eps
 *   p = p − (gradCoef·g) / denom
 *   p = p − (momentumCoef·m) / denom
 * The two parameter updates are applied one after the other in the element
 * type, so a float32 parameter is rounded in between as PyTorch's two
 * `addcdiv_` calls round it.
 * Scalars at `args` (f64): beta1, beta2, bc2, eps, gradCoef, momentumCoef, weightDecay.
 */
export function nadam<T>(p: usize, g: usize, m: usize, v: usize, n: i32, args: usize, maximize: i32): void {
  const sgn = <T>(maximize ? -1.0 : 1.0);
  const beta1 = load<f64>(args, 0);
  const beta2 = load<f64>(args, 8);
  const tb1 = <T>beta1;
  const tc1 = <T>(1.0 - beta1);
  const tb2 = <T>beta2;
  const tc2 = <T>(1.0 - beta2);
  const tbc2 = <T>load<f64>(args, 16);
  const teps = <T>load<f64>(args, 24);
  const tgc = <T>load<f64>(args, 32);
  const tmc = <T>load<f64>(args, 40);
  const twd = <T>load<f64>(args, 48);
  const vsgn = v128.splat<T>(sgn);
  const vb1 = v128.splat<T>(tb1);
  const vc1 = v128.splat<T>(tc1);
  const vb2 = v128.splat<T>(tb2);
  const vc2 = v128.splat<T>(tc2);
  const vbc2 = v128.splat<T>(tbc2);
  const veps = v128.splat<T>(teps);
  const vgc = v128.splat<T>(tgc);
  const vmc = v128.splat<T>(tmc);
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
    const den = v128.add<T>(v128.sqrt<T>(v128.div<T>(sv, vbc2)), veps);
    const p1 = v128.sub<T>(pv, v128.div<T>(v128.mul<T>(vgc, gv), den));
    v128.store(p + o, v128.sub<T>(p1, v128.div<T>(v128.mul<T>(vmc, mv), den)));
  }
  for (; i < n; i++) {
    const o = <usize>(i << sh);
    const pi = load<T>(p + o);
    const gi = sgn * load<T>(g + o) + twd * pi;
    const mi = tb1 * load<T>(m + o) + tc1 * gi;
    store<T>(m + o, mi);
    const si = tb2 * load<T>(v + o) + tc2 * (gi * gi);
    store<T>(v + o, si);
    const den = sqrt<T>(si / tbc2) + teps;
    const p1 = pi - (tgc * gi) / den;
    store<T>(p + o, p1 - (tmc * mi) / den);
  }
}
