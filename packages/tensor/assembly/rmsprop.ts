import { lanes, shift } from './common';

/**
 * Fused RMSprop step, the operation order of `kernels/rmsprop.ts`:
 *   g = sign·g + weightDecay·p
 *   sq = α·sq + (1 − α)·(g·g)
 *   centered (ga ≠ 0): ga = α·ga + (1 − α)·g;  avg = sqrt(sq − ga·ga) + eps
 *   otherwise:          avg = sqrt(sq) + eps
 *   momentum (buf ≠ 0): buf = μ·buf + g/avg;  p = p − lr·buf
 *   otherwise:          p = p − (lr·g)/avg
 * Scalars at `args` (f64): lr, alpha, eps, weightDecay, momentum.
 */
export function rmsprop<T>(p: usize, g: usize, sq: usize, ga: usize, buf: usize, n: i32, args: usize, maximize: i32): void {
  const lr = load<f64>(args, 0);
  const alpha = load<f64>(args, 8);
  const eps = load<f64>(args, 16);
  const weightDecay = load<f64>(args, 24);
  const momentum = load<f64>(args, 32);
  const sgn = <T>(maximize ? -1.0 : 1.0);
  const tlr = <T>lr;
  const ta = <T>alpha;
  const tc = <T>(1.0 - alpha);
  const teps = <T>eps;
  const twd = <T>weightDecay;
  const tmom = <T>momentum;
  const vsgn = v128.splat<T>(sgn);
  const vlr = v128.splat<T>(tlr);
  const va = v128.splat<T>(ta);
  const vc = v128.splat<T>(tc);
  const veps = v128.splat<T>(teps);
  const vwd = v128.splat<T>(twd);
  const vmom = v128.splat<T>(tmom);
  const body = n & ~(lanes<T>() - 1);
  const sh = shift<T>();
  let i = 0;
  for (; i < body; i += lanes<T>()) {
    const o = <usize>(i << sh);
    const pv = v128.load(p + o);
    const gv = v128.add<T>(v128.mul<T>(vsgn, v128.load(g + o)), v128.mul<T>(vwd, pv));
    const sv = v128.add<T>(v128.mul<T>(va, v128.load(sq + o)), v128.mul<T>(vc, v128.mul<T>(gv, gv)));
    v128.store(sq + o, sv);
    let avg: v128;
    if (ga != 0) {
      const av = v128.add<T>(v128.mul<T>(va, v128.load(ga + o)), v128.mul<T>(vc, gv));
      v128.store(ga + o, av);
      avg = v128.add<T>(v128.sqrt<T>(v128.sub<T>(sv, v128.mul<T>(av, av))), veps);
    } else {
      avg = v128.add<T>(v128.sqrt<T>(sv), veps);
    }
    if (buf != 0) {
      const bv = v128.add<T>(v128.mul<T>(vmom, v128.load(buf + o)), v128.div<T>(gv, avg));
      v128.store(buf + o, bv);
      v128.store(p + o, v128.sub<T>(pv, v128.mul<T>(vlr, bv)));
    } else {
      v128.store(p + o, v128.sub<T>(pv, v128.div<T>(v128.mul<T>(vlr, gv), avg)));
    }
  }
  for (; i < n; i++) {
    const o = <usize>(i << sh);
    const pi = load<T>(p + o);
    const gi = sgn * load<T>(g + o) + twd * pi;
    const si = ta * load<T>(sq + o) + tc * (gi * gi);
    store<T>(sq + o, si);
    let avg: T;
    if (ga != 0) {
      const ai = ta * load<T>(ga + o) + tc * gi;
      store<T>(ga + o, ai);
      avg = sqrt<T>(si - ai * ai) + teps;
    } else {
      avg = sqrt<T>(si) + teps;
    }
    if (buf != 0) {
      const bi = tmom * load<T>(buf + o) + gi / avg;
      store<T>(buf + o, bi);
      store<T>(p + o, pi - tlr * bi);
    } else {
      store<T>(p + o, pi - (tlr * gi) / avg);
    }
  }
}
