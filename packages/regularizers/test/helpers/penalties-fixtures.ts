/**
 * Replay support for the regularizer fixtures of test/fixtures (FORMAT.md §3, §8):
 * loading, tensor-scaled errors, and the OPT_FIXTURE_REPORT JSON lines.
 */
import { appendFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export const FIXTURE_DIR = join(__dirname, '..', 'fixtures');

/** Relative tolerance per dtype (FORMAT.md §3). */
export const RTOL = { float64: 1e-10, float32: 1e-5 } as const;

export interface TensorFixture {
  dtype: 'float32' | 'float64';
  shape: number[];
  data: number[];
}

export interface PenaltyCase {
  id: string;
  kind: 'l1' | 'l2' | 'l2_half' | 'elastic_net';
  dtype: 'float32' | 'float64';
  formula: string;
  coefficients: Record<string, number>;
  params: TensorFixture[];
  value: number;
  grads: TensorFixture[];
}

/** Parse a fixture file (path relative to test/fixtures). */
export function loadFixture<T>(relativePath: string): T {
  return JSON.parse(readFileSync(join(FIXTURE_DIR, relativePath), 'utf8')) as T;
}

/** `max_i |a_i − e_i| / max_i |e_i|` (0 when equal; Infinity on a length mismatch). */
export function scaledError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) return Infinity;
  let maxDiff = 0;
  let maxRef = 0;
  for (let i = 0; i < expected.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(actual[i]! - expected[i]!));
    maxRef = Math.max(maxRef, Math.abs(expected[i]!));
  }
  if (maxDiff === 0) return 0;
  return maxRef === 0 ? Infinity : maxDiff / maxRef;
}

/** `|a − e| / |e|` for scalars. */
export function scalarError(actual: number, expected: number): number {
  if (actual === expected) return 0;
  return Math.abs(actual - expected) / Math.abs(expected);
}

/** Append a replay result to `$OPT_FIXTURE_REPORT` when set. */
export function report(file: string, r: { id: string; dtype: string; valueError: number; gradError: number }): void {
  const target = process.env.OPT_FIXTURE_REPORT;
  if (target) appendFileSync(target, JSON.stringify({ file, ...r }) + '\n');
}
