/**
 * Replays the PyTorch 1.13 fixtures of `@opt/core` (packages/core/test/fixtures,
 * FORMAT.md there) through DeviceOptimizer, as core's own replay harness does
 * for the JS optimizers: params after every step, final state dict.
 */
import { appendFileSync } from 'node:fs';
import type { Optimizer, Parameter } from '@opt/core';
import {
  type OptimizerCase,
  RTOL,
  compareState,
  makeGroups,
  makeParams,
  scaledError,
  setGrads,
  toOptions,
} from '../../../core/test/helpers/fixtures';
import { DeviceOptimizer, type DeviceOptimizerOptions } from '../../src/index';

export { RTOL, loadFixture, type FixtureFile, type OptimizerCase } from '../../../core/test/helpers/fixtures';

export type CoreFactory = (groups: Array<Record<string, unknown> & { params: Parameter[] }>, options: Record<string, unknown>) => Optimizer<object>;

export interface DeviceReplay {
  id: string;
  dtype: 'float32' | 'float64';
  paramError: number;
  stateError: number;
  keyMismatches: string[];
  /** Parameters after every step, flattened (for bitwise comparison with the core path). */
  trajectory: number[][];
}

/** Replay one case through a DeviceOptimizer (parameters synced to the host after every step). */
export async function replayOnDevice(c: OptimizerCase, factory: CoreFactory, options: DeviceOptimizerOptions): Promise<DeviceReplay> {
  const params = makeParams(c);
  const opt = await DeviceOptimizer.wrap(factory(makeGroups(c, params), toOptions(c.constructor)), { ...options, syncParams: true });
  let paramError = 0;
  const trajectory: number[][] = [];
  for (let k = 0; k < c.steps.length; k++) {
    setGrads(c, params, k);
    await opt.step();
    params.forEach((p, i) => {
      paramError = Math.max(paramError, scaledError(p.data, c.steps[k]!.params[i]!));
    });
    trajectory.push(params.flatMap((p) => Array.from(p.data)));
  }
  const { stateError, keyMismatches } = compareState(await opt.stateDict(), c.final_state.state);
  await opt.release();
  return { id: c.id, dtype: c.dtype, paramError, stateError, keyMismatches, trajectory };
}

/** The same case through the plain core optimizer: parameters after every step. */
export function replayOnCore(c: OptimizerCase, factory: CoreFactory): number[][] {
  const params = makeParams(c);
  const opt = factory(makeGroups(c, params), toOptions(c.constructor));
  const trajectory: number[][] = [];
  for (let k = 0; k < c.steps.length; k++) {
    setGrads(c, params, k);
    opt.step();
    trajectory.push(params.flatMap((p) => Array.from(p.data)));
  }
  return trajectory;
}

/** Append a result line to `$OPT_FIXTURE_REPORT` when set. */
export function report(file: string, variant: string, r: DeviceReplay): void {
  const path = process.env.OPT_FIXTURE_REPORT;
  if (path === undefined || path === '') return;
  const { trajectory: _t, ...rest } = r;
  appendFileSync(path, `${JSON.stringify({ file, variant, ...rest, rtol: RTOL[r.dtype] })}\n`);
}

/** Largest |a − b| over two trajectories (0 means bit-identical up to the sign of zero). */
export function maxAbsDiff(a: number[][], b: number[][]): number {
  let m = 0;
  for (let k = 0; k < a.length; k++) for (let i = 0; i < a[k]!.length; i++) m = Math.max(m, Math.abs(a[k]![i]! - b[k]![i]!));
  return m;
}
