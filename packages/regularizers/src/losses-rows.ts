/**
 * Shared row kernels and argument checks of the cross-entropy losses (used by
 * `losses.ts` and `mixing.ts`; not part of the package's public API).
 *
 * @packageDocumentation
 */
import { type FloatArray, InvalidOptionError, ShapeMismatchError, isFloatArray } from '@opt/tensor';
import type { ShapedArray } from './losses.js';

/** The ignore index must be an integer (PyTorch's is an int64; any negative value never matches a class). */
export function checkIgnoreIndex(ignoreIndex: unknown, where: string): number {
  if (typeof ignoreIndex !== 'number' || !Number.isInteger(ignoreIndex)) {
    throw new InvalidOptionError('ignoreIndex', ignoreIndex, 'an integer', where);
  }
  return ignoreIndex;
}

/** [N, C] of a logits array, checked against its data. */
export function logitsShape(logits: ShapedArray, where: string): [number, number] {
  if (typeof logits !== 'object' || logits === null || !isFloatArray(logits.data) || !Array.isArray(logits.shape)) {
    throw new InvalidOptionError('logits', logits, 'a {data: Float32Array | Float64Array, shape: [N, C]} array', where);
  }
  if (logits.shape.length !== 2) {
    throw new ShapeMismatchError(`${where}: logits must have shape [N, C], got [${logits.shape.join(', ')}]`);
  }
  const n = logits.shape[0]!;
  const c = logits.shape[1]!;
  if (n * c !== logits.data.length || c < 1) {
    throw new ShapeMismatchError(`${where}: logits shape [${n}, ${c}] does not match its ${logits.data.length} elements (C ≥ 1)`);
  }
  return [n, c];
}

/** The class weights as given, checked to hold C finite numbers. */
export function checkWeight(weight: ArrayLike<number> | null, c: number, where: string): ArrayLike<number> | null {
  if (weight === null) return null;
  if (typeof weight !== 'object' || typeof weight.length !== 'number') {
    throw new InvalidOptionError('weight', weight, `an array of ${c} class weights or null`, where);
  }
  if (weight.length !== c) throw new ShapeMismatchError(`${where}: weight has ${weight.length} elements, expected C = ${c}`);
  for (let k = 0; k < c; k++) {
    if (!Number.isFinite(weight[k])) throw new InvalidOptionError(`weight[${k}]`, weight[k], 'a finite number', where);
  }
  return weight;
}

/** A gradient output buffer, checked to be a float buffer of `length` elements (or null). */
export function checkGradBuffer(grad: FloatArray | null, length: number, where: string, option: string): FloatArray | null {
  if (grad === null) return null;
  if (!isFloatArray(grad)) throw new InvalidOptionError(option, grad, 'a Float32Array or Float64Array', where);
  if (grad.length !== length) throw new ShapeMismatchError(`${where}: ${option} has ${grad.length} elements, expected ${length}`);
  return grad;
}

/** Class indices must be integers in [0, C) (or the ignore index, unless it is null), one per sample. */
export function checkLabels(
  labels: ArrayLike<number>,
  n: number,
  c: number,
  ignoreIndex: number | null,
  where: string,
  option: string,
): void {
  if (labels === null || typeof labels !== 'object' || typeof labels.length !== 'number') {
    throw new InvalidOptionError(option, labels, 'class indices (Int32Array or number[]) or a probability array', where);
  }
  if (labels.length !== n) throw new ShapeMismatchError(`${where}: ${option} has ${labels.length} labels, expected N = ${n}`);
  const expected = `an integer class index in [0, ${c})` + (ignoreIndex === null ? '' : ` or ignoreIndex ${ignoreIndex}`);
  for (let i = 0; i < n; i++) {
    const y = labels[i]!;
    if (y === ignoreIndex) continue;
    if (!Number.isInteger(y) || y < 0 || y >= c) throw new InvalidOptionError(`${option}[${i}]`, y, expected, where);
  }
}

/** Σ over kept samples of w[y_i] (the count when unweighted); `perm` reads labels[perm[i]]. */
export function keptWeight(
  labels: ArrayLike<number>,
  perm: ArrayLike<number> | null,
  weight: ArrayLike<number> | null,
  ignoreIndex: number,
): number {
  let s = 0;
  for (let i = 0; i < labels.length; i++) {
    const y = labels[perm === null ? i : perm[i]!]!;
    if (y === ignoreIndex) continue;
    s += weight === null ? 1 : weight[y]!;
  }
  return s;
}

/** log Σ_c exp(z[o + c]) with the row maximum factored out. */
function logSumExp(z: FloatArray, o: number, c: number): number {
  let m = -Infinity;
  for (let k = 0; k < c; k++) if (z[o + k]! > m) m = z[o + k]!;
  // An all −∞ row (or an +∞ entry) has no finite shift; let the NaN/∞ propagate as PyTorch does.
  if (m === -Infinity || m === Infinity) m = 0;
  let s = 0;
  for (let k = 0; k < c; k++) s += Math.exp(z[o + k]! - m);
  return m + Math.log(s);
}

/**
 * Rows of class-target cross-entropy: returns Σ_i ℓ_i (unscaled), writes (or with
 * `accumulate` adds) `scale·∂ℓ_i/∂z` into `grad`, and ℓ_i into `values`. `perm`
 * (optional) reads the label of row i from `labels[perm[i]]`, which is how
 * mixed-label losses reuse this without building a permuted label array.
 */
export function classTargetRows(
  z: FloatArray,
  n: number,
  c: number,
  labels: ArrayLike<number>,
  perm: ArrayLike<number> | null,
  weight: ArrayLike<number> | null,
  ignoreIndex: number,
  eps: number,
  scale: number,
  grad: FloatArray | null,
  accumulate: boolean,
  values: FloatArray | null,
): number {
  let weightSum = c;
  if (weight !== null) {
    weightSum = 0;
    for (let k = 0; k < c; k++) weightSum += weight[k]!;
  }
  const smooth = eps / c;
  let total = 0;
  for (let i = 0; i < n; i++) {
    const o = i * c;
    const y = labels[perm === null ? i : perm[i]!]!;
    if (y === ignoreIndex) {
      if (values !== null) values[i] = 0;
      if (grad !== null && !accumulate) grad.fill(0, o, o + c);
      continue;
    }
    const lse = logSumExp(z, o, c);
    const wy = weight === null ? 1 : weight[y]!;
    // −Σ_c w[c]·lp[c] without materialising lp.
    let smoothSum = 0;
    for (let k = 0; k < c; k++) smoothSum -= (weight === null ? 1 : weight[k]!) * (z[o + k]! - lse);
    const loss = (1 - eps) * (-wy * (z[o + y]! - lse)) + smooth * smoothSum;
    total += loss;
    if (values !== null) values[i] = loss;
    if (grad !== null) {
      const qSum = (1 - eps) * wy + smooth * weightSum;
      for (let k = 0; k < c; k++) {
        const q = smooth * (weight === null ? 1 : weight[k]!) + (k === y ? (1 - eps) * wy : 0);
        const g = scale * (Math.exp(z[o + k]! - lse) * qSum - q);
        grad[o + k] = accumulate ? grad[o + k]! + g : g;
      }
    }
  }
  return total;
}

/**
 * Rows of probability-target cross-entropy (`q = w·((1 − ε)·p + ε/C)`): returns Σ_i ℓ_i,
 * writes or adds `scale·∂ℓ_i/∂z` into `grad` and ℓ_i into `values`.
 */
export function softTargetRows(
  z: FloatArray,
  n: number,
  c: number,
  p: ArrayLike<number>,
  weight: ArrayLike<number> | null,
  eps: number,
  scale: number,
  grad: FloatArray | null,
  accumulate: boolean,
  values: FloatArray | null,
): number {
  const smooth = eps / c;
  let total = 0;
  for (let i = 0; i < n; i++) {
    const o = i * c;
    const lse = logSumExp(z, o, c);
    let loss = 0;
    let qSum = 0;
    for (let k = 0; k < c; k++) {
      const q = (weight === null ? 1 : weight[k]!) * ((1 - eps) * p[o + k]! + smooth);
      qSum += q;
      loss -= q * (z[o + k]! - lse);
    }
    total += loss;
    if (values !== null) values[i] = loss;
    if (grad !== null) {
      for (let k = 0; k < c; k++) {
        const q = (weight === null ? 1 : weight[k]!) * ((1 - eps) * p[o + k]! + smooth);
        const g = scale * (Math.exp(z[o + k]! - lse) * qSum - q);
        grad[o + k] = accumulate ? grad[o + k]! + g : g;
      }
    }
  }
  return total;
}
