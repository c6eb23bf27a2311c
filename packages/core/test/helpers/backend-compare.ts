/**
 * What the wasm-backend tests share: random parameters and gradients (some
 * missing on some steps), a trajectory recorder that runs one optimizer on a
 * given backend, and the scale-relative error between two trajectories.
 */
import { NonFiniteError, Parameter, Rng } from '@opt/tensor';
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

/** What {@link describeWasmAgainstJs} compares: optimizers, the options that reach every kernel branch, the shapes. */
export interface WasmParitySpec {
  optimizers: Record<string, Factory>;
  /** Per optimizer, option sets that exercise every branch of its kernel. */
  configs: Record<string, Array<Record<string, unknown>>>;
  /** Parameter shapes (SIMD bodies, tails, tiny tensors); parameter 3 must have at least 6 elements. */
  shapes: readonly (readonly number[])[];
  /** Index where the second group (at half the lr) starts. */
  split: number;
  /** Float32 agreement: bit for bit for the optimizers in `exact`, else within `tolerance` relative. */
  float32: { exact: ReadonlySet<string>; tolerance: number };
}

/**
 * The wasm backend of each optimizer against its JS backend: float64 bit for bit (with missing gradients, and with
 * one kernel call per whole segment), float32 within the spec's tolerance with the same state layout, a parameter
 * without a gradient left alone, a wasm state dict resumed on both backends, and non-finite gradients found by the
 * wasm scan.
 */
export function describeWasmAgainstJs(spec: WasmParitySpec): void {
  const { optimizers, configs, shapes, split } = spec;
  const run = (name: string, options: Record<string, unknown>, backend: 'js' | 'wasm', dtype: 'float32' | 'float64', steps: number, allGrads = false) =>
    runTrajectory({ factory: optimizers[name]!, options, backend, dtype, steps, shapes, split, allGrads });
  const groupsOf = (params: Parameter[], lr: number) => [{ params: params.slice(0, split) }, { params: params.slice(split), lr: lr * 0.5 }];

  describe.each(Object.keys(optimizers))('%s: the wasm backend against the JS backend', (name) => {
    const exact = spec.float32.exact.has(name);

    test.each(configs[name]!.map((c) => [JSON.stringify(c), c] as const))(
      'float64 trajectories and state dicts are identical bit for bit, with missing gradients (%s)',
      (_label, options) => {
        const js = run(name, options, 'js', 'float64', 12);
        const wasm = run(name, options, 'wasm', 'float64', 12);
        expect(wasm.opt).toHaveProperty('backend', 'wasm');
        expect(js.opt).toHaveProperty('backend', 'js');
        expect(wasm.history).toEqual(js.history);
        expect(JSON.stringify(wasm.stateDict)).toBe(JSON.stringify(js.stateDict));
      },
    );

    test('float64: one call per whole segment (every parameter has a gradient) matches the JS backend bit for bit', () => {
      const options = configs[name]![configs[name]!.length - 1]!;
      const js = run(name, options, 'js', 'float64', 6, true);
      const wasm = run(name, options, 'wasm', 'float64', 6, true);
      expect(wasm.history).toEqual(js.history);
      expect(JSON.stringify(wasm.stateDict)).toBe(JSON.stringify(js.stateDict));
    });

    test.each(configs[name]!.map((c) => [JSON.stringify(c), c] as const))(
      `float32 trajectories ${exact ? 'are identical bit for bit' : `stay within ${spec.float32.tolerance} relative`} to the JS backend, with the same state layout (%s)`,
      (_label, options) => {
        const js = run(name, options, 'js', 'float32', 12);
        const wasm = run(name, options, 'wasm', 'float32', 12);
        if (exact) {
          expect(wasm.history).toEqual(js.history);
          expect(JSON.stringify(wasm.stateDict)).toBe(JSON.stringify(js.stateDict));
          return;
        }
        wasm.history.forEach((h, k) => expect(maxScaledError(h, js.history[k]!)).toBeLessThanOrEqual(spec.float32.tolerance));
        expect(Object.keys(wasm.stateDict.state)).toEqual(Object.keys(js.stateDict.state));
        for (const [i, s] of Object.entries(wasm.stateDict.state)) {
          expect(Object.keys(s as object)).toEqual(Object.keys(js.stateDict.state[i] as object));
        }
        expect(wasm.stateDict.param_groups).toEqual(js.stateDict.param_groups);
      },
    );

    test('a parameter without a gradient is not updated, and its state is not created or advanced', () => {
      const params = makeParams(shapes, 'float64', 3);
      const opt = optimizers[name]!(params, { ...configs[name]![0]!, backend: 'wasm' });
      const before = Array.from(params[1]!.data);
      const stateBefore = JSON.stringify(opt.stateDict().state['1'] ?? null);
      params.forEach((p, i) => (p.grad = i === 1 ? null : new Float64Array(p.size).fill(0.5)));
      opt.step();
      opt.step();
      expect(Array.from(params[1]!.data)).toEqual(before);
      expect(JSON.stringify(opt.stateDict().state['1'] ?? null)).toBe(stateBefore);
      expect(Array.from(params[0]!.data)).not.toEqual(Array.from(makeParams(shapes, 'float64', 3)[0]!.data));
    });

    test('a state dict saved on the wasm backend resumes identically on wasm and on js', () => {
      const options = configs[name]![configs[name]!.length - 1]!;
      const lr = options.lr as number;
      const straight = run(name, options, 'wasm', 'float64', 10).history;
      const params = makeParams(shapes, 'float64', 11);
      const first = optimizers[name]!(groupsOf(params, lr), { ...options, backend: 'wasm' });
      const rng = new Rng(5);
      for (let k = 0; k < 5; k++) {
        setGrads(params, k, rng);
        first.step();
      }
      const saved = JSON.parse(JSON.stringify(first.stateDict()));
      for (const backend of ['wasm', 'js'] as const) {
        const resumed = params.map((p) => new Parameter(p.data.slice(), p.shape, p.name));
        const second = optimizers[name]!(groupsOf(resumed, lr), { ...options, backend });
        second.loadStateDict(saved);
        const rng2 = new Rng(5);
        for (let k = 0; k < 5; k++) setGrads(params, k, rng2); // replay the generator to step 5
        for (let k = 5; k < 10; k++) {
          setGrads(resumed, k, rng2);
          second.step();
          expect(resumed.flatMap((p) => Array.from(p.data))).toEqual(straight[k]);
        }
      }
    });

    test('a non-finite gradient is found by the wasm scan: thrown as NonFiniteError, or the step skipped', () => {
      const params = makeParams(shapes, 'float32', 2);
      const opt = optimizers[name]!(params, { ...configs[name]![0]!, backend: 'wasm' });
      params.forEach((p) => (p.grad = new Float32Array(p.size).fill(0.1)));
      params[3]!.grad![5] = NaN;
      expect(() => opt.step()).toThrow(NonFiniteError);
      expect(() => opt.step()).toThrow(/parameter p3 at element 5/);
      const skipping = optimizers[name]!(makeParams(shapes, 'float32', 2), { ...configs[name]![0]!, backend: 'wasm', nonFinite: 'skip' });
      const sp = (skipping as unknown as { paramGroups: Array<{ params: Parameter[] }> }).paramGroups[0]!.params;
      const before = sp.map((p) => Array.from(p.data));
      sp.forEach((p) => (p.grad = new Float32Array(p.size).fill(Infinity)));
      skipping.step();
      expect(skipping.skippedSteps).toBe(1);
      expect(sp.map((p) => Array.from(p.data))).toEqual(before);
    });
  });
}
