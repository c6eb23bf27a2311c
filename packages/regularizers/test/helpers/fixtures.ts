/**
 * Loading and comparing the PyTorch 1.13 regularizer/SWA fixtures (test/fixtures,
 * FORMAT.md §8–§9) with the conventions of core's replay harness: tensor-scaled
 * relative errors `max|a − e| / max|e|`, scalars `|a − e| / |e|`, 1e-10 for float64
 * and 1e-5 for float32, and one JSON line per case appended to `$OPT_FIXTURE_REPORT`.
 */
import { appendFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FloatArray } from '@opt/tensor';

export const FIXTURE_DIR = join(__dirname, '..', 'fixtures');

/** Relative tolerance per dtype (FORMAT.md §3). */
export const RTOL = { float64: 1e-10, float32: 1e-5 } as const;

export type FixtureDType = 'float32' | 'float64';

/** A tensor as the fixtures write it. */
export interface FixtureTensor {
  dtype: FixtureDType | 'int64';
  shape: number[];
  data: Array<number | string>;
}

/** Parse a fixture file (path relative to test/fixtures). */
export function loadFixture<T>(relativePath: string): T {
  return JSON.parse(readFileSync(join(FIXTURE_DIR, relativePath), 'utf8')) as T;
}

/** Decode a fixture number ("nan", "inf", "-inf" are strings). */
export function num(x: unknown): number {
  if (typeof x === 'number') return x;
  if (x === 'nan') return NaN;
  if (x === 'inf') return Infinity;
  if (x === '-inf') return -Infinity;
  throw new Error(`not a fixture number: ${JSON.stringify(x)}`);
}

/** A float buffer of the given dtype (float32 rounds on store). */
export function buffer(dtype: FixtureDType, values: ArrayLike<unknown>): FloatArray {
  const out = dtype === 'float64' ? new Float64Array(values.length) : new Float32Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = num(values[i]);
  return out;
}

/** A fixture tensor's data as a buffer of `dtype` (default: the tensor's own float dtype). */
export function tensor(t: FixtureTensor, dtype?: FixtureDType): FloatArray {
  return buffer(dtype ?? (t.dtype === 'float32' ? 'float32' : 'float64'), t.data);
}

/** A fixture tensor with its data as a buffer of `dtype` and its shape: fits `{data, shape}` inputs. */
export function shaped(t: FixtureTensor, dtype: FixtureDType): { data: FloatArray; shape: number[] } {
  return { data: tensor(t, dtype), shape: [...t.shape] };
}

/** Tensor-scaled relative error: max_i |a_i − e_i| / max_i |e_i| (0 when both are all zeros). */
export function scaledError(actual: ArrayLike<number>, expected: ArrayLike<unknown>): number {
  if (actual.length !== expected.length) return Infinity;
  let maxDiff = 0;
  let maxRef = 0;
  for (let i = 0; i < expected.length; i++) {
    const e = num(expected[i]);
    const a = actual[i]!;
    if (Number.isNaN(e) && Number.isNaN(a)) continue;
    maxDiff = Math.max(maxDiff, Math.abs(a - e));
    maxRef = Math.max(maxRef, Math.abs(e));
  }
  if (maxDiff === 0) return 0;
  return maxRef === 0 ? Infinity : maxDiff / maxRef;
}

/** Relative error of a scalar. */
export function scalarError(actual: number, expected: unknown): number {
  const e = num(expected);
  if (actual === e) return 0;
  return Math.abs(actual - e) / Math.abs(e);
}

/** The errors of one replayed case, by quantity (e.g. `{value, grad_logits}`). */
export interface CaseReport {
  id: string;
  dtype: FixtureDType;
  errors: Record<string, number>;
}

/** Largest of a case's errors (the `paramError` column of the shared report format). */
export function worst(r: CaseReport): number {
  return Math.max(0, ...Object.values(r.errors));
}

/** Append a case's errors to the file named by OPT_FIXTURE_REPORT (JSON lines). */
export function report(file: string, r: CaseReport): void {
  const target = process.env.OPT_FIXTURE_REPORT;
  if (target) appendFileSync(target, JSON.stringify({ file, id: r.id, dtype: r.dtype, paramError: worst(r), errors: r.errors }) + '\n');
}

/** Assert every error of a case within the dtype's tolerance, naming the quantity that fails. */
export function expectWithinTolerance(r: CaseReport): void {
  const tol = RTOL[r.dtype];
  const failing = Object.entries(r.errors).filter(([, e]) => !(e <= tol));
  expect(failing.map(([k, e]) => `${k}: ${e}`)).toEqual([]);
}
