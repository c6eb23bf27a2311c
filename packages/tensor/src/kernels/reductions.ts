import type { FloatArray } from '../dtype.js';

/**
 * Index of the first element that is NaN or ±Infinity, or -1 when all are finite.
 * `x - x` is NaN exactly for those values, which keeps the loop free of calls.
 */
export function firstNonFinite(x: ArrayLike<number>): number {
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    if (v - v !== 0) return i;
  }
  return -1;
}

/** Σ x², accumulated in float64. */
export function sumOfSquares(x: FloatArray): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i]! * x[i]!;
  return s;
}

/** Σ x·y, accumulated in float64. */
export function dot(x: FloatArray, y: FloatArray): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i]! * y[i]!;
  return s;
}

/** max |x| (0 for an empty buffer). */
export function maxAbs(x: FloatArray): number {
  let m = 0;
  for (let i = 0; i < x.length; i++) {
    const a = Math.abs(x[i]!);
    if (a > m || a !== a) m = a;
  }
  return m;
}

/**
 * The p-norm of a buffer: `(Σ |x|^p)^(1/p)`; `p = Infinity` gives max |x|,
 * `p = 0` the number of non-zero elements, `p = -Infinity` min |x|.
 */
export function lpNorm(x: FloatArray, p: number): number {
  if (p === 2) return Math.sqrt(sumOfSquares(x));
  if (p === Infinity) return maxAbs(x);
  if (p === -Infinity) {
    let m = Infinity;
    for (let i = 0; i < x.length; i++) m = Math.min(m, Math.abs(x[i]!));
    return m;
  }
  if (p === 0) {
    let n = 0;
    for (let i = 0; i < x.length; i++) if (x[i] !== 0) n++;
    return n;
  }
  if (p === 1) {
    let s = 0;
    for (let i = 0; i < x.length; i++) s += Math.abs(x[i]!);
    return s;
  }
  let s = 0;
  for (let i = 0; i < x.length; i++) s += Math.abs(x[i]!) ** p;
  return s ** (1 / p);
}

/** x ← a·x, in place. */
export function scaleInPlace(x: FloatArray, a: number): void {
  for (let i = 0; i < x.length; i++) x[i] = x[i]! * a;
}

/** y ← y + a·x, in place. */
export function axpy(y: FloatArray, a: number, x: ArrayLike<number>): void {
  for (let i = 0; i < y.length; i++) y[i] = y[i]! + a * x[i]!;
}
