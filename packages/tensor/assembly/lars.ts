import { lanes, shift } from './common';

/**
 * LARS update, the second pass of `kernels/lars.ts` (the trust ratio λ comes
 * first, from ‖p‖ and ‖g‖ of `sumsqOrdered`, and is folded into `scaled`):
 *   u = scaled·(sign·g + weightDecay·p)            (scaled = lr·λ)
 *   without buf:  p = p − u
 *   with buf:     buf = μ·buf + u;  p = p − (nesterov ? u + μ·buf : buf)
 * The learning rate sits inside the buffer, as in the paper's algorithm.
 * Scalars at `args` (f64): scaled, momentum, weightDecay.
 */
export function lars<T>(p: usize, g: usize, buf: usize, n: i32, args: usize, nesterov: i32, maximize: i32): void {
  const sgn = <T>(maximize ? -1.0 : 1.0);
  const ts = <T>load<f64>(args, 0);
  const tmom = <T>load<f64>(args, 8);
  const twd = <T>load<f64>(args, 16);
  const vsgn = v128.splat<T>(sgn);
  const vs = v128.splat<T>(ts);
  const vmom = v128.splat<T>(tmom);
  const vwd = v128.splat<T>(twd);
  const body = n & ~(lanes<T>() - 1);
  const sh = shift<T>();
  let i = 0;
  if (buf == 0) {
    for (; i < body; i += lanes<T>()) {
      const o = <usize>(i << sh);
      const pv = v128.load(p + o);
      const uv = v128.mul<T>(vs, v128.add<T>(v128.mul<T>(vsgn, v128.load(g + o)), v128.mul<T>(vwd, pv)));
      v128.store(p + o, v128.sub<T>(pv, uv));
    }
    for (; i < n; i++) {
      const o = <usize>(i << sh);
      const pi = load<T>(p + o);
      store<T>(p + o, pi - ts * (sgn * load<T>(g + o) + twd * pi));
    }
    return;
  }
  for (; i < body; i += lanes<T>()) {
    const o = <usize>(i << sh);
    const pv = v128.load(p + o);
    const uv = v128.mul<T>(vs, v128.add<T>(v128.mul<T>(vsgn, v128.load(g + o)), v128.mul<T>(vwd, pv)));
    const bv = v128.add<T>(v128.mul<T>(vmom, v128.load(buf + o)), uv);
    v128.store(buf + o, bv);
    const dv = nesterov ? v128.add<T>(uv, v128.mul<T>(vmom, bv)) : bv;
    v128.store(p + o, v128.sub<T>(pv, dv));
  }
  for (; i < n; i++) {
    const o = <usize>(i << sh);
    const pi = load<T>(p + o);
    const ui = ts * (sgn * load<T>(g + o) + twd * pi);
    const bi = tmom * load<T>(buf + o) + ui;
    store<T>(buf + o, bi);
    store<T>(p + o, pi - (nesterov ? ui + tmom * bi : bi));
  }
}
