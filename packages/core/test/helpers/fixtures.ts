/**
 * Replays the PyTorch 1.13 open-loop optimizer fixtures (see test/fixtures/FORMAT.md)
 * through an @opt optimizer and measures the tensor-scaled relative error:
 * max_i |actual_i − expected_i| / max_i |expected_i|.
 */
import { readFileSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { Parameter, type FloatArray } from '@opt/tensor';
import { type Optimizer, type OptimizerStateDict, snakeToCamel } from '../../src/index';

export const FIXTURE_DIR = join(__dirname, '..', 'fixtures');

/** Parse a fixture file (path relative to test/fixtures). */
export function loadFixture<T = FixtureFile>(relativePath: string): T {
  return JSON.parse(readFileSync(join(FIXTURE_DIR, relativePath), 'utf8')) as T;
}

export interface FixtureFile {
  kind: string;
  optimizer?: string;
  cases: OptimizerCase[];
}

export interface OptimizerCase {
  id: string;
  dtype: 'float32' | 'float64';
  constructor: Record<string, unknown>;
  group_overrides: Array<Record<string, unknown> & { params: number[] }>;
  params: Array<{ name: string; shape: number[] }>;
  initial_params: number[][];
  steps: Array<{ grads: Array<number[] | null | { rows: number[]; values: number[] }>; params: number[][] }>;
  final_state: { state: Record<string, Record<string, unknown>> };
}

/** Relative tolerance per dtype (FORMAT.md §3). */
export const RTOL = { float64: 1e-10, float32: 1e-5 } as const;

/** Tensor-scaled relative error. */
export function scaledError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) return Infinity;
  let maxDiff = 0;
  let maxRef = 0;
  for (let i = 0; i < expected.length; i++) {
    const e = decode(expected[i]);
    const a = actual[i]!;
    if (Number.isNaN(e) && Number.isNaN(a)) continue;
    maxDiff = Math.max(maxDiff, Math.abs(a - e));
    maxRef = Math.max(maxRef, Math.abs(e));
  }
  if (maxDiff === 0) return 0;
  return maxRef === 0 ? Infinity : maxDiff / maxRef;
}

function decode(x: unknown): number {
  if (typeof x === 'number') return x;
  if (x === 'nan') return NaN;
  if (x === 'inf') return Infinity;
  if (x === '-inf') return -Infinity;
  if (x === '-0') return -0;
  throw new Error(`not a number: ${JSON.stringify(x)}`);
}

/** Convert a fixture's PyTorch keyword arguments to @opt options (snake_case → camelCase). */
export function toOptions(kwargs: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(kwargs)) {
    if (k === 'params') continue;
    out[snakeToCamel(k)] = v === 'inf' ? Infinity : v;
  }
  return out;
}

/** Fresh parameters of a case, in the case's dtype, named as in the fixture. */
export function makeParams(c: OptimizerCase): Parameter[] {
  return c.params.map((spec, i) =>
    Parameter.from(c.initial_params[i]!, { shape: spec.shape, dtype: c.dtype, name: spec.name }),
  );
}

/** Parameter groups as the fixture's `group_overrides` describe them. */
export function makeGroups(c: OptimizerCase, params: Parameter[]): Array<Record<string, unknown> & { params: Parameter[] }> {
  return c.group_overrides.map((g) => ({ ...toOptions(g), params: g.params.map((i) => params[i]!) }));
}

export type OptimizerFactory = (
  groups: Array<Record<string, unknown> & { params: Parameter[] }>,
  options: Record<string, unknown>,
) => Optimizer<object>;

/** Feed step k's gradients of a case into the parameters (null → no gradient). */
export function setGrads(c: OptimizerCase, params: Parameter[], k: number, setSparse?: (p: Parameter, g: { rows: number[]; values: number[] }) => void): void {
  c.steps[k]!.grads.forEach((g, i) => {
    const p = params[i]!;
    if (g === null) p.grad = null;
    else if (Array.isArray(g)) p.grad = c.dtype === 'float64' ? Float64Array.from(g) : Float32Array.from(g);
    else if (setSparse) setSparse(p, g);
    else throw new Error('sparse gradient in a fixture without a sparse handler');
  });
}

export interface ReplayResult {
  id: string;
  dtype: 'float32' | 'float64';
  /** Largest tensor-scaled error of the parameters over every step. */
  paramError: number;
  /** Largest tensor-scaled error of the final state tensors and scalars. */
  stateError: number;
  /** State keys that differ from PyTorch's, as "param: ours vs theirs". */
  keyMismatches: string[];
}

/**
 * Replay one case: build the optimizer from the case's groups and constructor
 * options, feed every step's gradients, compare the parameters after each step
 * and the final state dict with PyTorch's.
 */
export function replayCase(c: OptimizerCase, factory: OptimizerFactory, setSparse?: (p: Parameter, g: { rows: number[]; values: number[] }) => void): ReplayResult {
  const params = makeParams(c);
  const opt = factory(makeGroups(c, params), toOptions(c.constructor));
  let paramError = 0;
  for (let k = 0; k < c.steps.length; k++) {
    setGrads(c, params, k, setSparse);
    opt.step();
    params.forEach((p, i) => {
      paramError = Math.max(paramError, scaledError(p.data, c.steps[k]!.params[i]!));
    });
  }
  const { stateError, keyMismatches } = compareState(opt.stateDict(), c.final_state.state);
  return { id: c.id, dtype: c.dtype, paramError, stateError, keyMismatches };
}

/** Compare our state dict's `state` with PyTorch's; scalars may be 0-dim tensors on either side. */
export function compareState(
  ours: OptimizerStateDict,
  theirs: Record<string, Record<string, unknown>>,
): { stateError: number; keyMismatches: string[] } {
  let stateError = 0;
  const keyMismatches: string[] = [];
  const indices = new Set([...Object.keys(ours.state), ...Object.keys(theirs)]);
  for (const index of indices) {
    const a = (ours.state[index] ?? {}) as Record<string, unknown>;
    const b = theirs[index] ?? {};
    const ka = Object.keys(a).sort().join(',');
    const kb = Object.keys(b).sort().join(',');
    if (ka !== kb) {
      keyMismatches.push(`${index}: [${ka}] vs [${kb}]`);
      continue;
    }
    for (const key of Object.keys(b)) stateError = Math.max(stateError, valueError(a[key], b[key]));
  }
  return { stateError, keyMismatches };
}

function flatValues(x: unknown): number[] | null {
  if (x === null || x === undefined) return null;
  if (typeof x === 'object' && 'data' in (x as object)) return ((x as { data: unknown[] }).data).map(decode);
  if (Array.isArray(x)) return x.flatMap((v) => flatValues(v) ?? []);
  return [decode(x)];
}

function valueError(a: unknown, b: unknown): number {
  const va = flatValues(a);
  const vb = flatValues(b);
  if (va === null || vb === null) return va === vb ? 0 : Infinity;
  return scaledError(va, vb);
}

/**
 * Replay every case of a fixture file and assert the tolerances, in a jest
 * `describe` block per file. Errors are appended to `$OPT_FIXTURE_REPORT` (JSON
 * lines) when that variable is set, for the closing-note table.
 */
export function describeFixtureReplay(
  file: string,
  factory: OptimizerFactory,
  options: { setSparse?: (p: Parameter, g: { rows: number[]; values: number[] }) => void; only?: (id: string) => boolean } = {},
): void {
  const fixture = loadFixture(file);
  describe(`${file}: replays PyTorch 1.13 trajectories`, () => {
    for (const c of fixture.cases) {
      if (options.only && !options.only(c.id)) continue;
      test(`${c.id} matches PyTorch within ${RTOL[c.dtype]} (params every step, final state)`, () => {
        const r = replayCase(c, factory, options.setSparse);
        report(file, r);
        expect(r.keyMismatches).toEqual([]);
        expect(r.paramError).toBeLessThanOrEqual(RTOL[c.dtype]);
        expect(r.stateError).toBeLessThanOrEqual(RTOL[c.dtype]);
      });
    }
  });
}

/** Append a replay result to the report file named by OPT_FIXTURE_REPORT. */
export function report(file: string, r: { id: string; dtype: string; paramError: number; stateError?: number }): void {
  const target = process.env.OPT_FIXTURE_REPORT;
  if (target) appendFileSync(target, JSON.stringify({ file, ...r }) + '\n');
}

/** Float buffer of the given dtype. */
export function buffer(dtype: 'float32' | 'float64', values: ArrayLike<number>): FloatArray {
  return dtype === 'float64' ? Float64Array.from(values) : Float32Array.from(values);
}
