import { lanes, shift } from './common';

/**
 * Fused SGD step, the operation order of `kernels/sgd.ts`:
 *   g = sign·g + weightDecay·p
 *   buf = first ? g : momentum·buf + (1 − dampening)·g      (buf ≠ 0 only)
 *   d = nesterov ? g + momentum·buf : buf                    (d = g without buf)
 *   p = p − lr·d
 * The first momentum step copies the gradient without the (1 − dampening)
 * factor, as PyTorch does when it creates the buffer.
 * Scalars at `args` (f64): lr, momentum, dampening, weightDecay.
 */
export function sgd<T>(p: usize, g: usize, buf: usize, n: i32, args: usize, nesterov: i32, maximize: i32, first: i32): void {
  const lr = load<f64>(args, 0);
  const momentum = load<f64>(args, 8);
  const dampening = load<f64>(args, 16);
  const weightDecay = load<f64>(args, 24);
  const sgn = <T>(maximize ? -1.0 : 1.0);
  const tlr = <T>lr;
  const tmom = <T>momentum;
  const keep = <T>(1.0 - dampening);
  const twd = <T>weightDecay;
  const vsgn = v128.splat<T>(sgn);
  const vlr = v128.splat<T>(tlr);
  const vmom = v128.splat<T>(tmom);
  const vkeep = v128.splat<T>(keep);
  const vwd = v128.splat<T>(twd);
  const body = n & ~(lanes<T>() - 1);
  const sh = shift<T>();
  let i = 0;
  if (buf == 0) {
    for (; i < body; i += lanes<T>()) {
      const o = <usize>(i << sh);
      const pv = v128.load(p + o);
      const gv = v128.add<T>(v128.mul<T>(vsgn, v128.load(g + o)), v128.mul<T>(vwd, pv));
      v128.store(p + o, v128.sub<T>(pv, v128.mul<T>(vlr, gv)));
    }
    for (; i < n; i++) {
      const o = <usize>(i << sh);
      const pi = load<T>(p + o);
      const gi = sgn * load<T>(g + o) + twd * pi;
      store<T>(p + o, pi - tlr * gi);
    }
    return;
  }
  for (; i < body; i += lanes<T>()) {
    const o = <usize>(i << sh);
    const pv = v128.load(p + o);
    const gv = v128.add<T>(v128.mul<T>(vsgn, v128.load(g + o)), v128.mul<T>(vwd, pv));
    const bv = first ? gv : v128.add<T>(v128.mul<T>(vmom, v128.load(buf + o)), v128.mul<T>(vkeep, gv));
    v128.store(buf + o, bv);
    const dv = nesterov ? v128.add<T>(gv, v128.mul<T>(vmom, bv)) : bv;
    v128.store(p + o, v128.sub<T>(pv, v128.mul<T>(vlr, dv)));
  }
  for (; i < n; i++) {
    const o = <usize>(i << sh);
    const pi = load<T>(p + o);
    const gi = sgn * load<T>(g + o) + twd * pi;
    const bi = first ? gi : tmom * load<T>(buf + o) + keep * gi;
    store<T>(buf + o, bi);
    const di = nesterov ? gi + tmom * bi : bi;
    store<T>(p + o, pi - tlr * di);
  }
}
