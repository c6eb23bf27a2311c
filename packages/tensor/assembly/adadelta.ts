import { lanes, shift } from './common';

/**
 * Fused Adadelta step, the operation order of `kernels/adadelta.ts`:
 *   g = sign·g + weightDecay·p
 *   sq = ρ·sq + (1 − ρ)·(g·g)
 *   Δ = (sqrt(acc + eps) / sqrt(sq + eps))·g          (the old acc)
 *   acc = ρ·acc + (1 − ρ)·(Δ·Δ)
 *   p = p − lr·Δ
 * eps sits inside both roots (Zeiler's RMS), unlike Adam and RMSprop.
 * Scalars at `args` (f64): lr, rho, eps, weightDecay.
 */
export function adadelta<T>(p: usize, g: usize, sq: usize, acc: usize, n: i32, args: usize, maximize: i32): void {
  const sgn = <T>(maximize ? -1.0 : 1.0);
  const tlr = <T>load<f64>(args, 0);
  const rho = load<f64>(args, 8);
  const trho = <T>rho;
  const tc = <T>(1.0 - rho);
  const teps = <T>load<f64>(args, 16);
  const twd = <T>load<f64>(args, 24);
  const vsgn = v128.splat<T>(sgn);
  const vlr = v128.splat<T>(tlr);
  const vrho = v128.splat<T>(trho);
  const vc = v128.splat<T>(tc);
  const veps = v128.splat<T>(teps);
  const vwd = v128.splat<T>(twd);
  const body = n & ~(lanes<T>() - 1);
  const sh = shift<T>();
  let i = 0;
  for (; i < body; i += lanes<T>()) {
    const o = <usize>(i << sh);
    const pv = v128.load(p + o);
    const gv = v128.add<T>(v128.mul<T>(vsgn, v128.load(g + o)), v128.mul<T>(vwd, pv));
    const sv = v128.add<T>(v128.mul<T>(vrho, v128.load(sq + o)), v128.mul<T>(vc, v128.mul<T>(gv, gv)));
    v128.store(sq + o, sv);
    const av = v128.load(acc + o);
    const dv = v128.mul<T>(v128.div<T>(v128.sqrt<T>(v128.add<T>(av, veps)), v128.sqrt<T>(v128.add<T>(sv, veps))), gv);
    v128.store(acc + o, v128.add<T>(v128.mul<T>(vrho, av), v128.mul<T>(vc, v128.mul<T>(dv, dv))));
    v128.store(p + o, v128.sub<T>(pv, v128.mul<T>(vlr, dv)));
  }
  for (; i < n; i++) {
    const o = <usize>(i << sh);
    const pi = load<T>(p + o);
    const gi = sgn * load<T>(g + o) + twd * pi;
    const si = trho * load<T>(sq + o) + tc * (gi * gi);
    store<T>(sq + o, si);
    const ai = load<T>(acc + o);
    const di = (sqrt<T>(ai + teps) / sqrt<T>(si + teps)) * gi;
    store<T>(acc + o, trho * ai + tc * (di * di));
    store<T>(p + o, pi - tlr * di);
  }
}
