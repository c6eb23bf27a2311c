// Entry point of the WebAssembly module: every kernel instantiated for f32 and
// f64. Pointers are byte offsets into this module's linear memory, `n` is an
// element count, an optional buffer is passed as pointer 0 (the JS arena never
// hands out offset 0), and flags are i32 (0 = false). Scalar coefficients are
// read from memory at `args` (consecutive f64s) rather than passed as f64
// arguments: the JS side then calls with small integers only, which V8 passes
// without boxing, so a step allocates nothing even where the call into wasm is
// not inlined.
import { sgd } from './sgd';
import { adam } from './adam';
import { lion } from './lion';
import { adagrad } from './adagrad';
import { rmsprop } from './rmsprop';
import { maxabs, nonfinite, scale } from './reductions';

export { sumsqF32, sumsqF64 } from './reductions';

/** First byte past the module's static data: the JS arena allocates from here on. */
export function heapBase(): usize {
  return __heap_base;
}

export function sgdF32(p: usize, g: usize, buf: usize, n: i32, args: usize, nesterov: i32, maximize: i32, first: i32): void {
  sgd<f32>(p, g, buf, n, args, nesterov, maximize, first);
}
export function sgdF64(p: usize, g: usize, buf: usize, n: i32, args: usize, nesterov: i32, maximize: i32, first: i32): void {
  sgd<f64>(p, g, buf, n, args, nesterov, maximize, first);
}

export function adamF32(p: usize, g: usize, m: usize, v: usize, vmax: usize, n: i32, args: usize, maximize: i32): void {
  adam<f32>(p, g, m, v, vmax, n, args, maximize);
}
export function adamF64(p: usize, g: usize, m: usize, v: usize, vmax: usize, n: i32, args: usize, maximize: i32): void {
  adam<f64>(p, g, m, v, vmax, n, args, maximize);
}

export function lionF32(p: usize, g: usize, m: usize, n: i32, args: usize, maximize: i32): void {
  lion<f32>(p, g, m, n, args, maximize);
}
export function lionF64(p: usize, g: usize, m: usize, n: i32, args: usize, maximize: i32): void {
  lion<f64>(p, g, m, n, args, maximize);
}

export function adagradF32(p: usize, g: usize, sum: usize, n: i32, args: usize, maximize: i32): void {
  adagrad<f32>(p, g, sum, n, args, maximize);
}
export function adagradF64(p: usize, g: usize, sum: usize, n: i32, args: usize, maximize: i32): void {
  adagrad<f64>(p, g, sum, n, args, maximize);
}

export function rmspropF32(p: usize, g: usize, sq: usize, ga: usize, buf: usize, n: i32, args: usize, maximize: i32): void {
  rmsprop<f32>(p, g, sq, ga, buf, n, args, maximize);
}
export function rmspropF64(p: usize, g: usize, sq: usize, ga: usize, buf: usize, n: i32, args: usize, maximize: i32): void {
  rmsprop<f64>(p, g, sq, ga, buf, n, args, maximize);
}

export function maxabsF32(x: usize, n: i32): f64 {
  return maxabs<f32>(x, n);
}
export function maxabsF64(x: usize, n: i32): f64 {
  return maxabs<f64>(x, n);
}

export function nonfiniteF32(x: usize, n: i32): i32 {
  return nonfinite<f32>(x, n);
}
export function nonfiniteF64(x: usize, n: i32): i32 {
  return nonfinite<f64>(x, n);
}

export function scaleF32(x: usize, n: i32, args: usize): void {
  scale<f32>(x, n, args);
}
export function scaleF64(x: usize, n: i32, args: usize): void {
  scale<f64>(x, n, args);
}

// Adadelta, Adamax, NAdam, RAdam, Rprop, LAMB, LARS, Adafactor and clip-by-norm
// (same conventions: pointers first, then n, args, i32 flags).
import { adadelta } from './adadelta';
import { adamax } from './adamax';
import { nadam } from './nadam';
import { radam } from './radam';
import { rprop } from './rprop';
import { lambDirection, lambApply } from './lamb';
import { lars } from './lars';
import { adafactorFactored, adafactorVector } from './adafactor';
import { sumsqOrdered, clipNorm } from './clip';

export function adadeltaF32(p: usize, g: usize, sq: usize, acc: usize, n: i32, args: usize, maximize: i32): void {
  adadelta<f32>(p, g, sq, acc, n, args, maximize);
}
export function adadeltaF64(p: usize, g: usize, sq: usize, acc: usize, n: i32, args: usize, maximize: i32): void {
  adadelta<f64>(p, g, sq, acc, n, args, maximize);
}

export function adamaxF32(p: usize, g: usize, m: usize, u: usize, n: i32, args: usize, maximize: i32): void {
  adamax<f32>(p, g, m, u, n, args, maximize);
}
export function adamaxF64(p: usize, g: usize, m: usize, u: usize, n: i32, args: usize, maximize: i32): void {
  adamax<f64>(p, g, m, u, n, args, maximize);
}

export function nadamF32(p: usize, g: usize, m: usize, v: usize, n: i32, args: usize, maximize: i32): void {
  nadam<f32>(p, g, m, v, n, args, maximize);
}
export function nadamF64(p: usize, g: usize, m: usize, v: usize, n: i32, args: usize, maximize: i32): void {
  nadam<f64>(p, g, m, v, n, args, maximize);
}

export function radamF32(p: usize, g: usize, m: usize, v: usize, n: i32, args: usize, rectified: i32, maximize: i32): void {
  radam<f32>(p, g, m, v, n, args, rectified, maximize);
}
export function radamF64(p: usize, g: usize, m: usize, v: usize, n: i32, args: usize, rectified: i32, maximize: i32): void {
  radam<f64>(p, g, m, v, n, args, rectified, maximize);
}

export function rpropF32(p: usize, g: usize, prev: usize, size: usize, n: i32, args: usize, maximize: i32): void {
  rprop<f32>(p, g, prev, size, n, args, maximize);
}
export function rpropF64(p: usize, g: usize, prev: usize, size: usize, n: i32, args: usize, maximize: i32): void {
  rprop<f64>(p, g, prev, size, n, args, maximize);
}

export function lambDirectionF32(p: usize, g: usize, m: usize, v: usize, u: usize, n: i32, args: usize, maximize: i32): f64 {
  return lambDirection<f32>(p, g, m, v, u, n, args, maximize);
}
export function lambDirectionF64(p: usize, g: usize, m: usize, v: usize, u: usize, n: i32, args: usize, maximize: i32): f64 {
  return lambDirection<f64>(p, g, m, v, u, n, args, maximize);
}
export function lambApplyF32(p: usize, u: usize, n: i32, args: usize): void {
  lambApply<f32>(p, u, n, args);
}
export function lambApplyF64(p: usize, u: usize, n: i32, args: usize): void {
  lambApply<f64>(p, u, n, args);
}

export function larsF32(p: usize, g: usize, buf: usize, n: i32, args: usize, nesterov: i32, maximize: i32): void {
  lars<f32>(p, g, buf, n, args, nesterov, maximize);
}
export function larsF64(p: usize, g: usize, buf: usize, n: i32, args: usize, nesterov: i32, maximize: i32): void {
  lars<f64>(p, g, buf, n, args, nesterov, maximize);
}

export function adafactorFactoredF32(
  p: usize, g: usize, rowVar: usize, colVar: usize, expAvg: usize, scratch: usize, n: i32, args: usize, rows: i32, cols: i32, maximize: i32,
): void {
  adafactorFactored<f32>(p, g, rowVar, colVar, expAvg, scratch, n, args, rows, cols, maximize);
}
export function adafactorFactoredF64(
  p: usize, g: usize, rowVar: usize, colVar: usize, expAvg: usize, scratch: usize, n: i32, args: usize, rows: i32, cols: i32, maximize: i32,
): void {
  adafactorFactored<f64>(p, g, rowVar, colVar, expAvg, scratch, n, args, rows, cols, maximize);
}
export function adafactorVectorF32(p: usize, g: usize, variance: usize, expAvg: usize, n: i32, args: usize, maximize: i32): void {
  adafactorVector<f32>(p, g, variance, expAvg, n, args, maximize);
}
export function adafactorVectorF64(p: usize, g: usize, variance: usize, expAvg: usize, n: i32, args: usize, maximize: i32): void {
  adafactorVector<f64>(p, g, variance, expAvg, n, args, maximize);
}

export function sumsqOrderedF32(x: usize, n: i32): f64 {
  return sumsqOrdered<f32>(x, n);
}
export function sumsqOrderedF64(x: usize, n: i32): f64 {
  return sumsqOrdered<f64>(x, n);
}
export function clipNormF32(x: usize, n: i32, args: usize): f64 {
  return clipNorm<f32>(x, n, args);
}
export function clipNormF64(x: usize, n: i32, args: usize): f64 {
  return clipNorm<f64>(x, n, args);
}
