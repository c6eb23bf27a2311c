import { ClosureRequiredError, NonFiniteError, Parameter, ParamGroupError, StateDictError } from '@opt/tensor';
import { LBFGS, type LBFGSState, choleskyFactor, choleskySolve } from '../src/index';
import { RTOL, compareState, loadFixture, report, scaledError, toOptions } from './helpers/fixtures';
import { closureFor, flatValues, quadraticGrad, quadraticValue, randomQuadratic, rosenbrock, rosenbrockGrad } from './helpers/functions';

interface LbfgsEval {
  x: number[];
  loss: number;
  grad: number[];
}

interface LbfgsStep {
  loss: number;
  closure_evals: number;
  params: number[][];
  state: { func_evals: number; n_iter: number; t: number; H_diag: number; history_len: number };
  evals: LbfgsEval[];
}

interface LbfgsCase {
  id: string;
  dtype: 'float32' | 'float64';
  params: Array<{ shape: number[] }>;
  initial_params: number[][];
  constructor: Record<string, unknown>;
  steps: LbfgsStep[];
  final_state: Record<string, unknown>;
}

const FILE = 'lbfgs/lbfgs.json';
const fixture = loadFixture<{ cases: LbfgsCase[] }>(FILE);

function makeParams(c: LbfgsCase): Parameter[] {
  return c.params.map((spec, i) => Parameter.from(c.initial_params[i]!, { shape: spec.shape, dtype: c.dtype, name: `p${i}` }));
}

interface ReplayOutcome {
  paramError: number;
  lossError: number;
  stateError: number;
  stepStateError: number;
  closureCounts: number[];
  expectedCounts: number[];
  keyMismatches: string[];
}

/**
 * REPLAY mode: the j-th closure call of step k checks that the parameters equal
 * `evals[j].x`, then answers with the recorded loss and gradient, so the
 * trajectory is PyTorch's and every error is our arithmetic alone.
 */
function replay(c: LbfgsCase): ReplayOutcome {
  const params = makeParams(c);
  const opt = new LBFGS(params, toOptions(c.constructor));
  let paramError = 0;
  let lossError = 0;
  let stepStateError = 0;
  const closureCounts: number[] = [];
  for (const [k, step] of c.steps.entries()) {
    let j = 0;
    const closure = (): number => {
      const e = step.evals[j];
      if (e === undefined) throw new Error(`${c.id}: step ${k} made more than the ${step.evals.length} recorded closure calls`);
      paramError = Math.max(paramError, scaledError(flatValues(params), e.x));
      let offset = 0;
      for (const p of params) {
        p.grad = c.dtype === 'float64' ? Float64Array.from(e.grad.slice(offset, offset + p.size)) : Float32Array.from(e.grad.slice(offset, offset + p.size));
        offset += p.size;
      }
      j++;
      return e.loss;
    };
    const loss = opt.step(closure);
    closureCounts.push(opt.lastClosureEvals);
    lossError = Math.max(lossError, relative(loss, step.loss));
    params.forEach((p, i) => {
      paramError = Math.max(paramError, scaledError(p.data, step.params[i]!));
    });
    const s = opt.state.get(params[0]!)!;
    const expected = step.state;
    if (s.func_evals !== expected.func_evals || s.n_iter !== expected.n_iter || s.old_dirs.length !== expected.history_len) {
      stepStateError = Infinity;
    }
    stepStateError = Math.max(stepStateError, relative(s.t ?? NaN, expected.t), relative(s.H_diag ?? NaN, expected.H_diag));
  }
  const { stateError, keyMismatches } = compareState(opt.stateDict(), { '0': c.final_state });
  return {
    paramError,
    lossError,
    stateError,
    stepStateError,
    closureCounts,
    expectedCounts: c.steps.map((s) => s.closure_evals),
    keyMismatches,
  };
}

function relative(a: number, e: number): number {
  if (a === e) return 0;
  return e === 0 ? Infinity : Math.abs(a - e) / Math.abs(e);
}

describe(`${FILE}: replays PyTorch 1.13 closed-loop trajectories`, () => {
  for (const c of fixture.cases) {
    test(`${c.id} makes PyTorch's closure calls and matches params, losses and state within ${RTOL[c.dtype]}`, () => {
      const r = replay(c);
      report(FILE, {
        id: c.id,
        dtype: c.dtype,
        paramError: r.paramError,
        stateError: Math.max(r.stateError, r.stepStateError),
        lossError: r.lossError,
        closureCounts: r.closureCounts,
      } as Parameters<typeof report>[1]);
      expect(r.closureCounts).toEqual(r.expectedCounts);
      expect(r.keyMismatches).toEqual([]);
      expect(r.paramError).toBeLessThanOrEqual(RTOL[c.dtype]);
      expect(r.lossError).toBeLessThanOrEqual(RTOL[c.dtype]);
      expect(r.stepStateError).toBeLessThanOrEqual(RTOL[c.dtype]);
      expect(r.stateError).toBeLessThanOrEqual(RTOL[c.dtype]);
    });
  }
});

function rosenbrockProblem(start: number[]): { x: Parameter; closure: () => number } {
  const x = new Parameter(Float64Array.from(start), [start.length], 'x');
  return { x, closure: closureFor([x], (v) => rosenbrock(v), (v, g) => rosenbrockGrad(v, g)) };
}

describe('LBFGS', () => {
  test('reaches the Rosenbrock minimum (1, 1) from (-1.2, 1) with the strong-Wolfe search', () => {
    const { x, closure } = rosenbrockProblem([-1.2, 1]);
    // The default toleranceChange (1e-9) stops PyTorch's LBFGS near loss 4e-10; tighten it to reach 1e-6 in x.
    const opt = new LBFGS([x], { lineSearchFn: 'strong_wolfe', maxIter: 100, toleranceChange: 1e-16, toleranceGrad: 1e-12 });
    for (let i = 0; i < 3; i++) opt.step(closure);
    expect(Math.abs(x.data[0]! - 1)).toBeLessThan(1e-6);
    expect(Math.abs(x.data[1]! - 1)).toBeLessThan(1e-6);
    expect(rosenbrock(x.data)).toBeLessThan(1e-12);
  });

  test('closed loop on the 10-d Rosenbrock fixture case keeps PyTorch\'s closure counts', () => {
    const c = fixture.cases.find((k) => k.id === 'lbfgs/rosenbrock_nd_strong_wolfe_short_history')!;
    const params = makeParams(c);
    const opt = new LBFGS(params, toOptions(c.constructor));
    const closure = closureFor(params, (v) => rosenbrock(v), (v, g) => rosenbrockGrad(v, g));
    for (const step of c.steps) {
      opt.step(closure);
      expect(opt.lastClosureEvals).toBe(step.closure_evals);
      params.forEach((p, i) => expect(scaledError(p.data, step.params[i]!)).toBeLessThanOrEqual(1e-5));
    }
  });

  test('minimises a quadratic spread over two parameters to A⁻¹b', () => {
    const q = randomQuadratic(6, 7);
    const a = new Parameter(new Float64Array(2), [2], 'a');
    const b = new Parameter(new Float64Array(4), [2, 2], 'b');
    const opt = new LBFGS([a, b], { lineSearchFn: 'strong_wolfe', toleranceGrad: 1e-12, toleranceChange: 0 });
    const closure = closureFor([a, b], (v) => quadraticValue(q, v), (v, g) => quadraticGrad(q, v, g));
    for (let i = 0; i < 3; i++) opt.step(closure);
    const L = new Float64Array(36);
    expect(choleskyFactor(q.A, 6, L)).toBe(true);
    const solution = new Float64Array(6);
    choleskySolve(L, 6, q.b, solution);
    const x = flatValues([a, b]);
    for (let i = 0; i < 6; i++) expect(Math.abs(x[i]! - solution[i]!)).toBeLessThan(1e-8);
  });

  test('a fixed-step run without early stop calls the closure exactly maxIter times', () => {
    const { x, closure } = rosenbrockProblem([-1.2, 1]);
    const opt = new LBFGS([x], { lr: 0.01, maxIter: 7 });
    const loss = opt.step(closure);
    expect(loss).toBeCloseTo(24.2, 12);
    expect(opt.lastClosureEvals).toBe(7);
    expect(opt.state.get(x)!.func_evals).toBe(7);
  });

  test('maxEval defaults to floor(maxIter·5/4) and is kept in the group', () => {
    const x = Parameter.zeros([1], 'float64');
    expect(new LBFGS([x]).paramGroups[0]!.maxEval).toBe(25);
    expect(new LBFGS([x], { maxIter: 10 }).paramGroups[0]!.maxEval).toBe(12);
    expect(new LBFGS([x], { maxIter: 10, maxEval: 3 }).paramGroups[0]!.maxEval).toBe(3);
  });

  test('returns after one evaluation when the first gradient is already below toleranceGrad', () => {
    const { x, closure } = rosenbrockProblem([1, 1]);
    const opt = new LBFGS([x]);
    expect(opt.step(closure)).toBe(0);
    expect(opt.lastClosureEvals).toBe(1);
    const s = opt.state.get(x)!;
    expect([s.func_evals, s.n_iter, s.d]).toEqual([1, 0, null]);
  });

  test('step() without a closure throws ClosureRequiredError', () => {
    const opt = new LBFGS([Parameter.zeros([2], 'float64')]);
    expect(() => opt.step()).toThrow(ClosureRequiredError);
  });

  test('rejects two parameter groups, at construction and through addParamGroup', () => {
    const a = Parameter.zeros([2], 'float64');
    const b = Parameter.zeros([2], 'float64');
    expect(() => new LBFGS([{ params: [a] }, { params: [b], lr: 0.5 }])).toThrow(ParamGroupError);
    const opt = new LBFGS([a]);
    expect(() => opt.addParamGroup({ params: [b] })).toThrow(/parameter groups/);
  });

  test('rejects invalid options naming them', () => {
    const x = Parameter.zeros([1], 'float64');
    expect(() => new LBFGS([x], { lineSearchFn: 'armijo' as unknown as null })).toThrow(/lineSearchFn/);
    expect(() => new LBFGS([x], { historySize: 0 })).toThrow(/historySize/);
    expect(() => new LBFGS([x], { maxIter: 1.5 })).toThrow(/maxIter/);
  });

  test('the non-finite policy applies to the first gradient: throw, or skip leaving params and state untouched', () => {
    const x = new Parameter(new Float64Array([0.5, 0.5]), [2], 'x');
    const bad = (): number => {
      x.grad = new Float64Array([NaN, 1]);
      return 1;
    };
    expect(() => new LBFGS([x]).step(bad)).toThrow(NonFiniteError);
    const skipping = new LBFGS([x], { nonFinite: 'skip' });
    expect(skipping.step(bad)).toBe(1);
    expect(skipping.lastStepSkipped).toBe(true);
    expect(skipping.skippedSteps).toBe(1);
    expect(skipping.lastClosureEvals).toBe(1);
    expect(Array.from(x.data)).toEqual([0.5, 0.5]);
    expect(skipping.state.size).toBe(0);
  });

  test('state lives on the first parameter under PyTorch\'s keys, with flat buffers over all parameters', () => {
    const a = new Parameter(new Float64Array([-1.2]), [1], 'a');
    const b = new Parameter(new Float64Array([1]), [1], 'b');
    const opt = new LBFGS([a, b], { lineSearchFn: 'strong_wolfe' });
    opt.step(closureFor([a, b], (v) => rosenbrock(v), (v, g) => rosenbrockGrad(v, g)));
    expect(opt.state.has(b)).toBe(false);
    const s = opt.state.get(a)! as LBFGSState;
    expect(Object.keys(s).sort()).toEqual(
      ['H_diag', 'd', 'func_evals', 'n_iter', 'old_dirs', 'old_stps', 'prev_flat_grad', 'prev_loss', 'ro', 't'].sort(),
    );
    expect(s.d!.length).toBe(2);
    expect(s.old_dirs.length).toBe(s.ro.length);
  });

  test('a run resumed from a JSON state dict continues bit-identically to an uninterrupted run', () => {
    const options = { lineSearchFn: 'strong_wolfe' as const, maxIter: 4, historySize: 3 };
    const straight = rosenbrockProblem([-1.2, 1]);
    const reference = new LBFGS([straight.x], options);
    const referenceCounts: number[] = [];
    for (let i = 0; i < 8; i++) {
      reference.step(straight.closure);
      referenceCounts.push(reference.lastClosureEvals);
    }

    const first = rosenbrockProblem([-1.2, 1]);
    const before = new LBFGS([first.x], options);
    const counts: number[] = [];
    for (let i = 0; i < 3; i++) {
      before.step(first.closure);
      counts.push(before.lastClosureEvals);
    }
    const saved = JSON.parse(JSON.stringify(before.stateDict())) as Record<string, unknown>;
    const resumed = rosenbrockProblem(Array.from(first.x.data));
    const after = new LBFGS([resumed.x], options);
    after.loadStateDict(saved);
    for (let i = 3; i < 8; i++) {
      after.step(resumed.closure);
      counts.push(after.lastClosureEvals);
    }
    expect(counts).toEqual(referenceCounts);
    expect(Array.from(resumed.x.data)).toEqual(Array.from(straight.x.data));
    expect(after.stateDict()).toEqual(reference.stateDict());
  });

  test('loads PyTorch\'s final state of a fixture case and writes it back unchanged', () => {
    const c = fixture.cases.find((k) => k.id === 'lbfgs/rosenbrock_nd_strong_wolfe_short_history')!;
    const params = makeParams(c);
    const opt = new LBFGS(params, toOptions(c.constructor));
    // PyTorch's state also holds `al` (two-loop scratch): it is accepted and dropped.
    const withScratch = { ...c.final_state, al: [0.5, null, null] };
    opt.loadStateDict({ state: { '0': withScratch }, param_groups: [{ params: [0, 1], ...c.constructor }] });
    const s = opt.state.get(params[0]!)!;
    expect(s.n_iter).toBe(81);
    expect(s.old_dirs.length).toBe(3);
    expect(compareState(opt.stateDict(), { '0': c.final_state }).stateError).toBe(0);
  });

  test('a state dict with a wrong buffer length or unequal histories is rejected, leaving the optimizer unchanged', () => {
    const { x, closure } = rosenbrockProblem([-1.2, 1]);
    const opt = new LBFGS([x], { lineSearchFn: 'strong_wolfe' });
    opt.step(closure);
    const good = opt.stateDict();
    const before = JSON.stringify(good);

    const shortD = JSON.parse(before) as { state: Record<string, Record<string, unknown>> };
    shortD.state['0']!.d = { dtype: 'float64', shape: [1], data: [1] };
    expect(() => opt.loadStateDict(shortD)).toThrow(StateDictError);

    const unequal = JSON.parse(before) as { state: Record<string, Record<string, unknown[]>> };
    unequal.state['0']!.ro!.push(1);
    expect(() => opt.loadStateDict(unequal)).toThrow(/equal lengths/);

    const extraKey = JSON.parse(before) as { state: Record<string, Record<string, unknown>> };
    extraKey.state['0']!.momentum_buffer = null;
    expect(() => opt.loadStateDict(extraKey)).toThrow(StateDictError);

    const a = new Parameter(new Float64Array([-1.2]), [1], 'a');
    const b = new Parameter(new Float64Array([1]), [1], 'b');
    const pair = new LBFGS([a, b]);
    pair.step(closureFor([a, b], (v) => rosenbrock(v), (v, g) => rosenbrockGrad(v, g)));
    const moved = JSON.parse(JSON.stringify(pair.stateDict())) as { state: Record<string, unknown> };
    moved.state['1'] = moved.state['0'];
    delete moved.state['0'];
    expect(() => pair.loadStateDict(moved)).toThrow(/first parameter only/);

    expect(JSON.stringify(opt.stateDict())).toBe(before);
  });
});
