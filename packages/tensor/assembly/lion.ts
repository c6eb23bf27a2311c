import { lanes, shift, ssign, vsign } from './common';

/**
 * Fused Lion step, the operation order of `kernels/lion.ts`:
 *   p = decay·p                       (only when decay ≠ 1)
 *   g = sign·g
 *   c = β1·m + (1 − β1)·g
 *   p = p − lr·sign(c)                (sign(±0) = ±0, sign(NaN) = NaN, as Math.sign)
 *   m = β2·m + (1 − β2)·g
 * Scalars at `args` (f64): lr, beta1, beta2, decay.
 */
export function lion<T>(p: usize, g: usize, m: usize, n: i32, args: usize, maximize: i32): void {
  const lr = load<f64>(args, 0);
  const beta1 = load<f64>(args, 8);
  const beta2 = load<f64>(args, 16);
  const decay = load<f64>(args, 24);
  const sgn = <T>(maximize ? -1.0 : 1.0);
  const tlr = <T>lr;
  const tb1 = <T>beta1;
  const tb2 = <T>beta2;
  const tc1 = <T>(1.0 - beta1);
  const tc2 = <T>(1.0 - beta2);
  const tdecay = <T>decay;
  const useDecay = decay != 1.0;
  const vsgn = v128.splat<T>(sgn);
  const vlr = v128.splat<T>(tlr);
  const vb1 = v128.splat<T>(tb1);
  const vb2 = v128.splat<T>(tb2);
  const vc1 = v128.splat<T>(tc1);
  const vc2 = v128.splat<T>(tc2);
  const vdecay = v128.splat<T>(tdecay);
  const one = v128.splat<T>(<T>1);
  const signBit = v128.splat<T>(<T>-0.0);
  const body = n & ~(lanes<T>() - 1);
  const sh = shift<T>();
  let i = 0;
  for (; i < body; i += lanes<T>()) {
    const o = <usize>(i << sh);
    let pv = v128.load(p + o);
    if (useDecay) pv = v128.mul<T>(pv, vdecay);
    const gv = v128.mul<T>(vsgn, v128.load(g + o));
    const mv = v128.load(m + o);
    const cv = v128.add<T>(v128.mul<T>(vb1, mv), v128.mul<T>(vc1, gv));
    v128.store(p + o, v128.sub<T>(pv, v128.mul<T>(vlr, vsign<T>(cv, one, signBit))));
    v128.store(m + o, v128.add<T>(v128.mul<T>(vb2, mv), v128.mul<T>(vc2, gv)));
  }
  for (; i < n; i++) {
    const o = <usize>(i << sh);
    let pi = load<T>(p + o);
    if (useDecay) pi = pi * tdecay;
    const gi = sgn * load<T>(g + o);
    const mi = load<T>(m + o);
    const ci = tb1 * mi + tc1 * gi;
    store<T>(p + o, pi - tlr * ssign<T>(ci));
    store<T>(m + o, tb2 * mi + tc2 * gi);
  }
}
