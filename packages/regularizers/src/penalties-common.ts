/**
 * Shape and buffer checks shared by the regularisers of this package (internal:
 * not re-exported from the package index).
 */
import { DTypeMismatchError, InvalidOptionError, Parameter, ShapeMismatchError, type FloatArray } from '@opt/core';

/** Number of elements of a shape. */
export function shapeSize(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Throw unless `shape` is a list of non-negative integers whose product is `length`. */
export function checkShape(where: string, what: string, shape: readonly number[], length: number, minRank = 1): void {
  if (!Array.isArray(shape) || shape.length < minRank) {
    throw new ShapeMismatchError(`${where}: ${what} shape must have at least ${minRank} dimension(s), got [${String(shape)}]`);
  }
  for (let i = 0; i < shape.length; i++) {
    const d = shape[i]!;
    if (!Number.isInteger(d) || d < 0) throw new InvalidOptionError(`${what} shape[${i}]`, d, 'a non-negative integer', where);
  }
  const n = shapeSize(shape);
  if (n !== length) {
    throw new ShapeMismatchError(`${where}: ${what} shape [${shape.join(', ')}] holds ${n} elements but the buffer has ${length}`);
  }
}

/** Throw unless `buffer` is a float buffer of exactly `length` elements. */
export function checkBuffer(where: string, what: string, buffer: unknown, length: number): FloatArray {
  if (!(buffer instanceof Float32Array || buffer instanceof Float64Array)) {
    throw new DTypeMismatchError(`${where}: ${what} must be a Float32Array or Float64Array`);
  }
  if (buffer.length !== length) {
    throw new ShapeMismatchError(`${where}: ${what} has ${buffer.length} elements, expected ${length}`);
  }
  return buffer;
}

/** A parameter list from one parameter or an iterable of them. */
export function toParameterList(where: string, params: Parameter | Iterable<Parameter>): Parameter[] {
  const list = params instanceof Parameter ? [params] : [...params];
  for (let i = 0; i < list.length; i++) {
    if (!(list[i] instanceof Parameter)) {
      throw new InvalidOptionError(`params[${i}]`, list[i], 'a Parameter', where);
    }
  }
  return list;
}

/** `[rows, cols]` of a parameter viewed as a matrix: the first dimension by the product of the rest. */
export function matrixView(where: string, shape: readonly number[]): [number, number] {
  if (shape.length < 2) {
    throw new ShapeMismatchError(`${where}: expected a parameter with at least 2 dimensions, got shape [${shape.join(', ')}]`);
  }
  const rows = shape[0]!;
  return [rows, rows === 0 ? 0 : shapeSize(shape) / rows];
}

/** `x ← x / max(‖x‖₂, eps)` (torch.nn.functional.normalize); returns the norm. */
export function normalize(x: Float64Array, eps: number): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i]! * x[i]!;
  const norm = Math.sqrt(s);
  const inv = 1 / Math.max(norm, eps);
  for (let i = 0; i < x.length; i++) x[i] = x[i]! * inv;
  return norm;
}
