import { lanes, shift } from './common';

/**
 * Fused Adamax step, the operation order of `kernels/adamax.ts`:
 *   g = sign·g + weightDecay·p
 *   m = β1·m + (1 − β1)·g
 *   u = max(β2·u, |g| + eps)
 *   p = p − (clr·m) / u
 * The max propagates NaN (wasm's `max` does, like `Math.max` and torch.amax),
 * and eps inside the max keeps u ≥ eps, as PyTorch does.
 * Scalars at `args` (f64): clr, beta1, beta2, eps, weightDecay.
 */
export function adamax<T>(p: usize, g: usize, m: usize, u: usize, n: i32, args: usize, maximize: i32): void {
  const sgn = <T>(maximize ? -1.0 : 1.0);
  const tclr = <T>load<f64>(args, 0);
  const beta1 = load<f64>(args, 8);
  const tb1 = <T>beta1;
  const tc1 = <T>(1.0 - beta1);
  const tb2 = <T>load<f64>(args, 16);
  const teps = <T>load<f64>(args, 24);
  const twd = <T>load<f64>(args, 32);
  const vsgn = v128.splat<T>(sgn);
  const vclr = v128.splat<T>(tclr);
  const vb1 = v128.splat<T>(tb1);
  const vc1 = v128.splat<T>(tc1);
  const vb2 = v128.splat<T>(tb2);
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
    const uv = v128.max<T>(v128.mul<T>(vb2, v128.load(u + o)), v128.add<T>(v128.abs<T>(gv), veps));
    v128.store(u + o, uv);
    v128.store(p + o, v128.sub<T>(pv, v128.div<T>(v128.mul<T>(vclr, mv), uv)));
  }
  for (; i < n; i++) {
    const o = <usize>(i << sh);
    const pi = load<T>(p + o);
    const gi = sgn * load<T>(g + o) + twd * pi;
    const mi = tb1 * load<T>(m + o) + tc1 * gi;
    store<T>(m + o, mi);
    const ui = max<T>(tb2 * load<T>(u + o), abs<T>(gi) + teps);
    store<T>(u + o, ui);
    store<T>(p + o, pi - (tclr * mi) / ui);
  }
}
