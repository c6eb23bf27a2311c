import { lanes, shift } from './common';

/**
 * Fused Adagrad step, the operation order of `kernels/adagrad.ts`:
 *   g = sign·g + weightDecay·p
 *   sum = sum + g·g
 *   p = p − (clr·g) / (sqrt(sum) + eps)        (eps outside the root, as PyTorch)
 * Scalars at `args` (f64): clr, eps, weightDecay.
 */
export function adagrad<T>(p: usize, g: usize, sum: usize, n: i32, args: usize, maximize: i32): void {
  const clr = load<f64>(args, 0);
  const eps = load<f64>(args, 8);
  const weightDecay = load<f64>(args, 16);
  const sgn = <T>(maximize ? -1.0 : 1.0);
  const tclr = <T>clr;
  const teps = <T>eps;
  const twd = <T>weightDecay;
  const vsgn = v128.splat<T>(sgn);
  const vclr = v128.splat<T>(tclr);
  const veps = v128.splat<T>(teps);
  const vwd = v128.splat<T>(twd);
  const body = n & ~(lanes<T>() - 1);
  const sh = shift<T>();
  let i = 0;
  for (; i < body; i += lanes<T>()) {
    const o = <usize>(i << sh);
    const pv = v128.load(p + o);
    const gv = v128.add<T>(v128.mul<T>(vsgn, v128.load(g + o)), v128.mul<T>(vwd, pv));
    const sv = v128.add<T>(v128.load(sum + o), v128.mul<T>(gv, gv));
    v128.store(sum + o, sv);
    const den = v128.add<T>(v128.sqrt<T>(sv), veps);
    v128.store(p + o, v128.sub<T>(pv, v128.div<T>(v128.mul<T>(vclr, gv), den)));
  }
  for (; i < n; i++) {
    const o = <usize>(i << sh);
    const pi = load<T>(p + o);
    const gi = sgn * load<T>(g + o) + twd * pi;
    const si = load<T>(sum + o) + gi * gi;
    store<T>(sum + o, si);
    store<T>(p + o, pi - (tclr * gi) / (sqrt<T>(si) + teps));
  }
}
