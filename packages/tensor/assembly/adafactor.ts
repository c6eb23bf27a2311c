import { shift } from './common';

// Adafactor's reductions (RMS of p, the factor means, RMS of the update) and
// its per-element math run in float64 for both element types, exactly as the
// JS reference `kernels/adafactor.ts` does (it computes in JS numbers and
// rounds on store), so both dtypes match the reference bit for bit. The SIMD
// unit is therefore f64x2: two elements per step, loaded from float32 with a
// 64-bit load and a promotion, and rounded back with a demotion wherever the
// reference stores (and re-reads) an element.

/** Two elements of T at `ptr`, as f64x2. */
// @ts-ignore: decorator
@inline function ld2<T>(ptr: usize): v128 {
  if (sizeof<T>() == 4) return f64x2.promote_low_f32x4(v128.load64_zero(ptr));
  return v128.load(ptr);
}

/** Store an f64x2 as two elements of T at `ptr` (rounding to float32 for f32). */
// @ts-ignore: decorator
@inline function st2<T>(ptr: usize, v: v128): void {
  if (sizeof<T>() == 4) v128.store64_lane(ptr, f32x4.demote_f64x2_zero(v), 0);
  else v128.store(ptr, v);
}

/** An f64x2 rounded through T and back: what the reference reads after storing it. */
// @ts-ignore: decorator
@inline function rnd2<T>(v: v128): v128 {
  if (sizeof<T>() == 4) return f64x2.promote_low_f32x4(f32x4.demote_f64x2_zero(v));
  return v;
}

/** One element of T at `ptr`, as f64. */
// @ts-ignore: decorator
@inline function ld<T>(ptr: usize): f64 {
  return <f64>load<T>(ptr);
}

/** `a + w·(b − a)` the way torch.lerp evaluates it (from the nearer end), in f64. */
// @ts-ignore: decorator
@inline function lerp(a: f64, b: f64, w: f64): f64 {
  return w < 0.5 ? a + w * (b - a) : b - (b - a) * (1.0 - w);
}

/** max(mean of `rows` elements of T at `ptr`, eps1), summed in index order. */
function rowMean<T>(ptr: usize, rows: i32, eps1: f64): f64 {
  const sh = shift<T>();
  let s: f64 = 0;
  for (let i = 0; i < rows; i++) s += ld<T>(ptr + (<usize>i << sh));
  const mean = s / <f64>rows;
  return mean < eps1 ? eps1 : mean;
}

/**
 * Adafactor step of a parameter of two or more dimensions, read as `n / (rows·cols)`
 * row-major `rows × cols` slices (the operation order of `adafactorFactoredUpdate`):
 *   α = max(eps2, RMS(p))·rho
 *   R_i = lerp(R_i, mean_j G_ij², w);  C_j = lerp(C_j, mean_i G_ij², w)      (per slice)
 *   V̂_ij = max(R_i / max(mean_i R_i, eps1)·C_j, eps1²);  U_ij = G_ij / √V̂_ij
 *   k = ±α / max(1, RMS(U)/d)
 *   p = decay·p;  expAvg = β1·expAvg + (1 − β1)·k·U, p = p − expAvg   (expAvg ≠ 0)
 *                 p = p − k·U                                        (otherwise)
 * Three passes (factor sums with RMS(p), RMS(U), the update); `scratch` is a
 * float64 buffer of at least `cols` elements for one slice's column sums.
 * Scalars at `args` (f64): rho, w, eps1, eps2, d, decay, beta1.
 */
export function adafactorFactored<T>(
  p: usize, g: usize, rowVar: usize, colVar: usize, expAvg: usize, scratch: usize,
  n: i32, args: usize, rows: i32, cols: i32, maximize: i32,
): void {
  if (n == 0) return;
  const rho = load<f64>(args, 0);
  const w = load<f64>(args, 8);
  const eps1 = load<f64>(args, 16);
  const eps2 = load<f64>(args, 24);
  const d = load<f64>(args, 32);
  const decay = load<f64>(args, 40);
  const beta1 = load<f64>(args, 48);
  const sh = shift<T>();
  const size = rows * cols;
  const slices = n / size;
  const pairs = cols & ~1;
  let pSq: f64 = 0;
  for (let b = 0; b < slices; b++) {
    const base = b * size;
    for (let j = 0; j < cols; j++) store<f64>(scratch + (<usize>j << 3), 0);
    for (let i = 0; i < rows; i++) {
      let acc: f64 = 0;
      const off = base + i * cols;
      let j = 0;
      for (; j < pairs; j += 2) {
        const o = <usize>((off + j) << sh);
        const pv = ld2<T>(p + o);
        const gv = ld2<T>(g + o);
        const p2 = f64x2.mul(pv, pv);
        const g2 = f64x2.mul(gv, gv);
        pSq += f64x2.extract_lane(p2, 0);
        acc += f64x2.extract_lane(g2, 0);
        pSq += f64x2.extract_lane(p2, 1);
        acc += f64x2.extract_lane(g2, 1);
        const c = scratch + (<usize>j << 3);
        v128.store(c, f64x2.add(v128.load(c), g2));
      }
      for (; j < cols; j++) {
        const o = <usize>((off + j) << sh);
        const pi = ld<T>(p + o);
        const gi = ld<T>(g + o);
        const g2 = gi * gi;
        pSq += pi * pi;
        acc += g2;
        const c = scratch + (<usize>j << 3);
        store<f64>(c, load<f64>(c) + g2);
      }
      const r = rowVar + (<usize>(b * rows + i) << sh);
      store<T>(r, <T>lerp(ld<T>(r), acc / <f64>cols, w));
    }
    for (let j = 0; j < cols; j++) {
      const c = colVar + (<usize>(b * cols + j) << sh);
      store<T>(c, <T>lerp(ld<T>(c), load<f64>(scratch + (<usize>j << 3)) / <f64>rows, w));
    }
  }
  const alpha = max<f64>(eps2, sqrt<f64>(pSq / <f64>n)) * rho;
  const eps1Sq = eps1 * eps1;
  const vEps = f64x2.splat(eps1Sq);
  let uSq: f64 = 0;
  for (let b = 0; b < slices; b++) {
    const mean = rowMean<T>(rowVar + (<usize>(b * rows) << sh), rows, eps1);
    const cBase = colVar + (<usize>(b * cols) << sh);
    for (let i = 0; i < rows; i++) {
      const r = ld<T>(rowVar + (<usize>(b * rows + i) << sh)) / mean;
      const vr = f64x2.splat(r);
      const off = b * size + i * cols;
      let j = 0;
      for (; j < pairs; j += 2) {
        let vh = f64x2.mul(vr, ld2<T>(cBase + (<usize>j << sh)));
        vh = v128.bitselect(vEps, vh, f64x2.lt(vh, vEps));
        const u = f64x2.div(ld2<T>(g + (<usize>((off + j) << sh))), f64x2.sqrt(vh));
        const u2 = f64x2.mul(u, u);
        uSq += f64x2.extract_lane(u2, 0);
        uSq += f64x2.extract_lane(u2, 1);
      }
      for (; j < cols; j++) {
        let vh = r * ld<T>(cBase + (<usize>j << sh));
        if (vh < eps1Sq) vh = eps1Sq;
        const u = ld<T>(g + (<usize>((off + j) << sh))) / sqrt<f64>(vh);
        uSq += u * u;
      }
    }
  }
  const k = ((maximize ? -1.0 : 1.0) * alpha) / max<f64>(1.0, sqrt<f64>(uSq / <f64>n) / d);
  const c1 = 1.0 - beta1;
  const useDecay = decay != 1.0;
  const vk = f64x2.splat(k);
  const vdecay = f64x2.splat(decay);
  const vb1 = f64x2.splat(beta1);
  const vc1 = f64x2.splat(c1);
  for (let b = 0; b < slices; b++) {
    const mean = rowMean<T>(rowVar + (<usize>(b * rows) << sh), rows, eps1);
    const cBase = colVar + (<usize>(b * cols) << sh);
    for (let i = 0; i < rows; i++) {
      const r = ld<T>(rowVar + (<usize>(b * rows + i) << sh)) / mean;
      const vr = f64x2.splat(r);
      const off = b * size + i * cols;
      let j = 0;
      for (; j < pairs; j += 2) {
        const o = <usize>((off + j) << sh);
        let vh = f64x2.mul(vr, ld2<T>(cBase + (<usize>j << sh)));
        vh = v128.bitselect(vEps, vh, f64x2.lt(vh, vEps));
        const step = f64x2.div(f64x2.mul(vk, ld2<T>(g + o)), f64x2.sqrt(vh));
        let pv = ld2<T>(p + o);
        if (useDecay) pv = rnd2<T>(f64x2.mul(pv, vdecay));
        if (expAvg == 0) {
          st2<T>(p + o, f64x2.sub(pv, step));
        } else {
          const e = rnd2<T>(f64x2.add(f64x2.mul(vb1, ld2<T>(expAvg + o)), f64x2.mul(vc1, step)));
          st2<T>(expAvg + o, e);
          st2<T>(p + o, f64x2.sub(pv, e));
        }
      }
      for (; j < cols; j++) {
        const o = <usize>((off + j) << sh);
        let vh = r * ld<T>(cBase + (<usize>j << sh));
        if (vh < eps1Sq) vh = eps1Sq;
        const step = (k * ld<T>(g + o)) / sqrt<f64>(vh);
        let pi = ld<T>(p + o);
        if (useDecay) pi = <f64><T>(pi * decay);
        if (expAvg == 0) {
          store<T>(p + o, <T>(pi - step));
        } else {
          const e = <f64><T>(beta1 * ld<T>(expAvg + o) + c1 * step);
          store<T>(expAvg + o, <T>e);
          store<T>(p + o, <T>(pi - e));
        }
      }
    }
  }
}

/**
 * Adafactor step of a parameter of zero or one dimension, with the whole second
 * moment `variance` (the operation order of `adafactorVectorUpdate`):
 *   α = max(eps2, RMS(p))·rho;  V = lerp(V, G², w);  U = G / √max(V, eps1²)
 *   k = ±α / max(1, RMS(U)/d);  p = decay·p;  p = p − k·U   (or through expAvg)
 * Scalars at `args` (f64): rho, w, eps1, eps2, d, decay, beta1.
 */
export function adafactorVector<T>(p: usize, g: usize, variance: usize, expAvg: usize, n: i32, args: usize, maximize: i32): void {
  if (n == 0) return;
  const rho = load<f64>(args, 0);
  const w = load<f64>(args, 8);
  const eps1 = load<f64>(args, 16);
  const eps2 = load<f64>(args, 24);
  const d = load<f64>(args, 32);
  const decay = load<f64>(args, 40);
  const beta1 = load<f64>(args, 48);
  const sh = shift<T>();
  const eps1Sq = eps1 * eps1;
  const vEps = f64x2.splat(eps1Sq);
  const near = w < 0.5;
  const vw = f64x2.splat(w);
  const vw1 = f64x2.splat(1.0 - w);
  const pairs = n & ~1;
  let pSq: f64 = 0;
  let uSq: f64 = 0;
  let i = 0;
  for (; i < pairs; i += 2) {
    const o = <usize>(i << sh);
    const pv = ld2<T>(p + o);
    const gv = ld2<T>(g + o);
    const g2 = f64x2.mul(gv, gv);
    const a = ld2<T>(variance + o);
    const diff = f64x2.sub(g2, a);
    const lv = near ? f64x2.add(a, f64x2.mul(vw, diff)) : f64x2.sub(g2, f64x2.mul(diff, vw1));
    st2<T>(variance + o, lv);
    let v = rnd2<T>(lv);
    v = v128.bitselect(vEps, v, f64x2.lt(v, vEps));
    const u = f64x2.div(gv, f64x2.sqrt(v));
    const p2 = f64x2.mul(pv, pv);
    const u2 = f64x2.mul(u, u);
    pSq += f64x2.extract_lane(p2, 0);
    uSq += f64x2.extract_lane(u2, 0);
    pSq += f64x2.extract_lane(p2, 1);
    uSq += f64x2.extract_lane(u2, 1);
  }
  for (; i < n; i++) {
    const o = <usize>(i << sh);
    const pi = ld<T>(p + o);
    const gi = ld<T>(g + o);
    pSq += pi * pi;
    store<T>(variance + o, <T>lerp(ld<T>(variance + o), gi * gi, w));
    const v = ld<T>(variance + o);
    const u = gi / sqrt<f64>(v < eps1Sq ? eps1Sq : v);
    uSq += u * u;
  }
  const alpha = max<f64>(eps2, sqrt<f64>(pSq / <f64>n)) * rho;
  const k = ((maximize ? -1.0 : 1.0) * alpha) / max<f64>(1.0, sqrt<f64>(uSq / <f64>n) / d);
  const c1 = 1.0 - beta1;
  const useDecay = decay != 1.0;
  const vk = f64x2.splat(k);
  const vdecay = f64x2.splat(decay);
  const vb1 = f64x2.splat(beta1);
  const vc1 = f64x2.splat(c1);
  i = 0;
  for (; i < pairs; i += 2) {
    const o = <usize>(i << sh);
    let v = ld2<T>(variance + o);
    v = v128.bitselect(vEps, v, f64x2.lt(v, vEps));
    const step = f64x2.div(f64x2.mul(vk, ld2<T>(g + o)), f64x2.sqrt(v));
    let pv = ld2<T>(p + o);
    if (useDecay) pv = rnd2<T>(f64x2.mul(pv, vdecay));
    if (expAvg == 0) {
      st2<T>(p + o, f64x2.sub(pv, step));
    } else {
      const e = rnd2<T>(f64x2.add(f64x2.mul(vb1, ld2<T>(expAvg + o)), f64x2.mul(vc1, step)));
      st2<T>(expAvg + o, e);
      st2<T>(p + o, f64x2.sub(pv, e));
    }
  }
  for (; i < n; i++) {
    const o = <usize>(i << sh);
    const v = ld<T>(variance + o);
    const step = (k * ld<T>(g + o)) / sqrt<f64>(v < eps1Sq ? eps1Sq : v);
    let pi = ld<T>(p + o);
    if (useDecay) pi = <f64><T>(pi * decay);
    if (expAvg == 0) {
      store<T>(p + o, <T>(pi - step));
    } else {
      const e = <f64><T>(beta1 * ld<T>(expAvg + o) + c1 * step);
      store<T>(expAvg + o, <T>e);
      store<T>(p + o, <T>(pi - e));
    }
  }
}
