import { lanes, shift } from './common';

// Speed: a v128 of Adam costs a square root and a divide, which bound the
// loop (one divide, not two: the bias correction of v is a multiply by
// 1/sqrtBc2, precomputed). The AdamW decay and the AMSGrad maximum are
// resolved outside the loop (four specialised loops, the flags being
// constants once `vstep` is inlined). Unrolling the body two or four times
// measured no faster: the square-root/divide unit is the bottleneck, and the
// out-of-order core already overlaps consecutive iterations.

/** One v128 of the Adam update at byte offset `o` (see {@link adam}). */
// @ts-ignore: decorator
@inline function vstep<T>(
  p: usize, g: usize, m: usize, v: usize, vmax: usize, o: usize, useDecay: bool, ams: bool,
  vsgn: v128, vss: v128, vib: v128, vb1: v128, vb2: v128, vc1: v128, vc2: v128, veps: v128, vl2: v128, vdecay: v128,
): void {
  let pv = v128.load(p + o);
  if (useDecay) pv = v128.mul<T>(pv, vdecay);
  const gv = v128.add<T>(v128.mul<T>(vsgn, v128.load(g + o)), v128.mul<T>(vl2, pv));
  const mv = v128.add<T>(v128.mul<T>(vb1, v128.load(m + o)), v128.mul<T>(vc1, gv));
  v128.store(m + o, mv);
  let sv = v128.add<T>(v128.mul<T>(vb2, v128.load(v + o)), v128.mul<T>(vc2, v128.mul<T>(gv, gv)));
  v128.store(v + o, sv);
  if (ams) {
    sv = v128.pmax<T>(v128.load(vmax + o), sv);
    v128.store(vmax + o, sv);
  }
  const den = v128.add<T>(v128.mul<T>(v128.sqrt<T>(sv), vib), veps);
  v128.store(p + o, v128.sub<T>(pv, v128.div<T>(v128.mul<T>(vss, mv), den)));
}

/** The SIMD body over the first `n2` elements (a whole number of vectors). */
// @ts-ignore: decorator
@inline function simdBody<T>(
  p: usize, g: usize, m: usize, v: usize, vmax: usize, n2: i32, useDecay: bool, ams: bool,
  vsgn: v128, vss: v128, vib: v128, vb1: v128, vb2: v128, vc1: v128, vc2: v128, veps: v128, vl2: v128, vdecay: v128,
): void {
  const sh = shift<T>();
  for (let i = 0; i < n2; i += lanes<T>()) {
    vstep<T>(p, g, m, v, vmax, <usize>(i << sh), useDecay, ams, vsgn, vss, vib, vb1, vb2, vc1, vc2, veps, vl2, vdecay);
  }
}

/**
 * Fused Adam / AdamW / AMSGrad step, the operation order of `kernels/adam.ts`:
 *   p = decay·p                               (only when decay ≠ 1: AdamW)
 *   g = sign·g + l2·p
 *   m = β1·m + (1 − β1)·g
 *   v = β2·v + (1 − β2)·(g·g)
 *   vmax = max(vmax, v)                       (vmax ≠ 0: AMSGrad, on the uncorrected v)
 *   p = p − (stepSize·m) / (sqrt(v or vmax)·(1/sqrtBc2) + eps)
 * eps is added after bias-correcting the second moment, as PyTorch does; the
 * max keeps vmax when v is NaN, like the reference's `if (v > vmax)`.
 * Scalars at `args` (f64): stepSize, sqrtBc2, beta1, beta2, eps, l2, decay.
 */
export function adam<T>(p: usize, g: usize, m: usize, v: usize, vmax: usize, n: i32, args: usize, maximize: i32): void {
  const stepSize = load<f64>(args, 0);
  const sqrtBc2 = load<f64>(args, 8);
  const beta1 = load<f64>(args, 16);
  const beta2 = load<f64>(args, 24);
  const eps = load<f64>(args, 32);
  const l2 = load<f64>(args, 40);
  const decay = load<f64>(args, 48);
  const sgn = <T>(maximize ? -1.0 : 1.0);
  const tss = <T>stepSize;
  // The reciprocal is formed in f64 and then rounded, as the JS reference forms it.
  const tib = <T>(1.0 / sqrtBc2);
  const tb1 = <T>beta1;
  const tb2 = <T>beta2;
  const tc1 = <T>(1.0 - beta1);
  const tc2 = <T>(1.0 - beta2);
  const teps = <T>eps;
  const tl2 = <T>l2;
  const tdecay = <T>decay;
  const useDecay = decay != 1.0;
  const vsgn = v128.splat<T>(sgn);
  const vss = v128.splat<T>(tss);
  const vib = v128.splat<T>(tib);
  const vb1 = v128.splat<T>(tb1);
  const vb2 = v128.splat<T>(tb2);
  const vc1 = v128.splat<T>(tc1);
  const vc2 = v128.splat<T>(tc2);
  const veps = v128.splat<T>(teps);
  const vl2 = v128.splat<T>(tl2);
  const vdecay = v128.splat<T>(tdecay);
  const n2 = n & ~(lanes<T>() - 1);
  if (useDecay) {
    if (vmax != 0) simdBody<T>(p, g, m, v, vmax, n2, true, true, vsgn, vss, vib, vb1, vb2, vc1, vc2, veps, vl2, vdecay);
    else simdBody<T>(p, g, m, v, vmax, n2, true, false, vsgn, vss, vib, vb1, vb2, vc1, vc2, veps, vl2, vdecay);
  } else {
    if (vmax != 0) simdBody<T>(p, g, m, v, vmax, n2, false, true, vsgn, vss, vib, vb1, vb2, vc1, vc2, veps, vl2, vdecay);
    else simdBody<T>(p, g, m, v, vmax, n2, false, false, vsgn, vss, vib, vb1, vb2, vc1, vc2, veps, vl2, vdecay);
  }
  const sh = shift<T>();
  for (let i = n2; i < n; i++) {
    const o = <usize>(i << sh);
    let pi = load<T>(p + o);
    if (useDecay) pi = pi * tdecay;
    const gi = sgn * load<T>(g + o) + tl2 * pi;
    const mi = tb1 * load<T>(m + o) + tc1 * gi;
    store<T>(m + o, mi);
    let si = tb2 * load<T>(v + o) + tc2 * (gi * gi);
    store<T>(v + o, si);
    if (vmax != 0) {
      const old = load<T>(vmax + o);
      si = old < si ? si : old;
      store<T>(vmax + o, si);
    }
    store<T>(p + o, pi - (tss * mi) / (sqrt<T>(si) * tib + teps));
  }
}
