/**
 * What the wasm-backend tests share: random parameters and gradients (some
 * missing on some steps), a trajectory recorder that runs one optimizer on a
 * given backend, and the scale-relative error between two trajectories.
 */
import { Parameter, Rng } from '@opt/tensor';
import type { Optimizer, OptimizerSettings } from '../../src/index';

/** Builds an optimizer over parameters or groups; `as never` casts keep one table for every class. */
export type Factory = (
  params: Parameter[] | Array<Record<string, unknown> & { params: Parameter[] }>,
  settings: OptimizerSettings & Record<string, unknown>,
) => Optimizer<object>;

/** Parameters of the given shapes with uniform(−1, 1) values, named `p0`, `p1`, …. */
export function makeParams(shapes: readonly (readonly number[])[], dtype: 'float32' | 'float64', seed: number): Parameter[] {
  const rng = new Rng(seed);
  return shapes.map((shape, i) =>
    Parameter.from(Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.uniform(-1, 1)), { shape: [...shape], dtype, name: `p${i}` }),
  );
}

/** Gradients of step k: some parameters get none on some steps (they must not move). */
export function setGrads(params: Parameter[], k: number, rng: Rng): void {
  params.forEach((p, i) => {
    if ((k + i) % 4 === 3) {
      p.grad = null;
      return;
    }
    const g = p.dtype === 'float64' ? new Float64Array(p.size) : new Float32Array(p.size);
    for (let j = 0; j < g.length; j++) g[j] = rng.uniform(-1, 1);
    p.grad = g;
  });
}

/** How {@link runTrajectory} sets up and drives one run. */
export interface TrajectoryOptions {
  factory: Factory;
  options: Record<string, unknown>;
  backend: 'js' | 'wasm';
  dtype: 'float32' | 'float64';
  steps: number;
  shapes: readonly (readonly number[])[];
  /** Index where the second group (at half the lr) starts: one kernel call per group. */
  split: number;
  /** Give every parameter a gradient on every step (one call per whole segment). */
  allGrads?: boolean;
}

/** Run `steps` steps from seeded parameters; the flattened parameters after each step, and the final state dict. */
export function runTrajectory(t: TrajectoryOptions) {
  const params = makeParams(t.shapes, t.dtype, 11);
  const groups = [{ params: params.slice(0, t.split) }, { params: params.slice(t.split), lr: (t.options.lr as number) * 0.5 }];
  const opt = t.factory(groups, { ...t.options, backend: t.backend });
  const rng = new Rng(5);
  const history: number[][] = [];
  for (let k = 0; k < t.steps; k++) {
    setGrads(params, t.allGrads ? 0 : k, rng);
    opt.step();
    history.push(params.flatMap((p) => Array.from(p.data)));
  }
  return { opt, params, history, stateDict: opt.stateDict() };
}

/** max |a − b| over max |b|: the error relative to the trajectory's scale. */
export function maxScaledError(a: number[], b: number[]): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return diff === 0 ? 0 : diff / scale;
}
