import { lanes, shift } from './common';

/**
 * Fused Rprop step, the operation order of `kernels/rprop.ts`:
 *   g = sign·g;  s = g·prev
 *   size = size·(s > 0 ? etaplus : s < 0 ? etaminus : 1), then clamped to [minStep, maxStep]
 *   g = s < 0 ? 0 : g
 *   p = p − size (g > 0),  p + size (g < 0),  p (otherwise)
 *   prev = g
 * The SIMD body selects with lane masks instead of branching; `p − (−size)`
 * equals `p + size` and `p − 0` equals `p` exactly (also for −0), so it stores
 * what the branches of the reference store. A NaN s multiplies by 1 and a NaN
 * size passes the clamp unchanged, as in the reference.
 * Scalars at `args` (f64): etaminus, etaplus, minStep, maxStep.
 */
export function rprop<T>(p: usize, g: usize, prev: usize, size: usize, n: i32, args: usize, maximize: i32): void {
  const sgn = <T>(maximize ? -1.0 : 1.0);
  const tdown = <T>load<f64>(args, 0);
  const tup = <T>load<f64>(args, 8);
  const tlo = <T>load<f64>(args, 16);
  const thi = <T>load<f64>(args, 24);
  const vsgn = v128.splat<T>(sgn);
  const vdown = v128.splat<T>(tdown);
  const vup = v128.splat<T>(tup);
  const vone = v128.splat<T>(<T>1);
  const vzero = v128.splat<T>(<T>0);
  const vlo = v128.splat<T>(tlo);
  const vhi = v128.splat<T>(thi);
  const body = n & ~(lanes<T>() - 1);
  const sh = shift<T>();
  let i = 0;
  for (; i < body; i += lanes<T>()) {
    const o = <usize>(i << sh);
    let gv = v128.mul<T>(vsgn, v128.load(g + o));
    const s = v128.mul<T>(gv, v128.load(prev + o));
    const up = v128.gt<T>(s, vzero);
    const down = v128.lt<T>(s, vzero);
    const factor = v128.bitselect(vup, v128.bitselect(vdown, vone, down), up);
    let sz = v128.mul<T>(v128.load(size + o), factor);
    sz = v128.bitselect(vlo, sz, v128.lt<T>(sz, vlo));
    sz = v128.bitselect(vhi, sz, v128.gt<T>(sz, vhi));
    v128.store(size + o, sz);
    gv = v128.bitselect(vzero, gv, down);
    const delta = v128.bitselect(sz, v128.bitselect(v128.neg<T>(sz), vzero, v128.lt<T>(gv, vzero)), v128.gt<T>(gv, vzero));
    v128.store(p + o, v128.sub<T>(v128.load(p + o), delta));
    v128.store(prev + o, gv);
  }
  for (; i < n; i++) {
    const o = <usize>(i << sh);
    let gi = sgn * load<T>(g + o);
    const s = gi * load<T>(prev + o);
    let si = load<T>(size + o);
    if (s > <T>0) si = si * tup;
    else if (s < <T>0) {
      si = si * tdown;
      gi = <T>0;
    }
    if (si < tlo) si = tlo;
    else if (si > thi) si = thi;
    store<T>(size + o, si);
    if (gi > <T>0) store<T>(p + o, load<T>(p + o) - si);
    else if (gi < <T>0) store<T>(p + o, load<T>(p + o) + si);
    store<T>(prev + o, gi);
  }
}
