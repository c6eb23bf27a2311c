import { NonFiniteError, Parameter } from '@opt/tensor';
import { Adam, type NonFinitePolicy, type NonFiniteReport, findNonFiniteGradient, gradientsAreFinite } from '../src/index';

/** Two named float64 parameters after three ordinary Adam steps. */
function warmAdam(policy: NonFinitePolicy, onNonFinite?: (r: NonFiniteReport) => void) {
  const w = new Parameter(new Float64Array([0.5, -1.5, 2]), [3], 'layer.weight');
  const b = new Parameter(new Float64Array([0.25]), [1], 'layer.bias');
  const opt = new Adam([w, b], { lr: 0.1, nonFinite: policy, onNonFinite });
  for (let t = 1; t <= 3; t++) {
    w.grad = new Float64Array([0.1 * t, -0.2, 0.3]);
    b.grad = new Float64Array([0.05 * t]);
    opt.step();
  }
  return { w, b, opt };
}

function snapshot(params: Parameter[], opt: Adam) {
  return {
    params: params.map((p) => Array.from(p.data)),
    state: JSON.stringify(opt.stateDict()),
  };
}

describe('non-finite gradient policy of the Optimizer base class (through Adam)', () => {
  test("'skip': a NaN gradient leaves parameters AND state exactly as after the last good step", () => {
    const reports: NonFiniteReport[] = [];
    const { w, b, opt } = warmAdam('skip', (r) => reports.push(r));
    const before = snapshot([w, b], opt);
    w.grad = new Float64Array([0.1, 0.2, 0.3]);
    b.grad = new Float64Array([NaN]);
    opt.step();
    expect(snapshot([w, b], opt)).toEqual(before);
    expect(opt.state.get(w)!.step).toBe(3);
    expect(opt.skippedSteps).toBe(1);
    expect(opt.lastStepSkipped).toBe(true);
    expect(reports).toEqual([{ parameter: 'layer.bias', index: 0, value: NaN }]);
  });

  test("'skip': the counters keep counting, lastStepSkipped resets on the next good step, and training resumes", () => {
    const reports: NonFiniteReport[] = [];
    const { w, b, opt } = warmAdam('skip', (r) => reports.push(r));
    w.grad = new Float64Array([0, Infinity, 0]);
    opt.step();
    w.grad = new Float64Array([-Infinity, 0, 0]);
    opt.step();
    expect(opt.skippedSteps).toBe(2);
    expect(reports.map((r) => [r.parameter, r.index, r.value])).toEqual([
      ['layer.weight', 1, Infinity],
      ['layer.weight', 0, -Infinity],
    ]);
    // a good step after skips is the same as if the skips never happened
    const { w: w2, b: b2, opt: ref } = warmAdam('skip');
    for (const [p, o] of [
      [w, opt],
      [w2, ref],
    ] as const) {
      p.grad = new Float64Array([0.4, 0.5, 0.6]);
      o.step();
    }
    expect(opt.lastStepSkipped).toBe(false);
    expect(opt.skippedSteps).toBe(2);
    expect(Array.from(w.data)).toEqual(Array.from(w2.data));
    expect(Array.from(b.data)).toEqual(Array.from(b2.data));
    expect(opt.state.get(w)!.step).toBe(4);
  });

  test("'skip' without a callback only counts", () => {
    const { w, opt } = warmAdam('skip');
    w.grad = new Float64Array([NaN, NaN, NaN]);
    expect(() => opt.step()).not.toThrow();
    expect(opt.skippedSteps).toBe(1);
  });

  test("'skip' names an unnamed parameter by its position over all groups", () => {
    const reports: NonFiniteReport[] = [];
    const p0 = new Parameter(new Float64Array([1]), [1]);
    const p1 = new Parameter(new Float64Array([1, 2]), [2]);
    const opt = new Adam([{ params: [p0] }, { params: [p1], lr: 0.5 }], { nonFinite: 'skip', onNonFinite: (r) => reports.push(r) });
    p0.grad = new Float64Array([1]);
    p1.grad = new Float64Array([1, NaN]);
    opt.step();
    expect(reports).toEqual([{ parameter: '#1', index: 1, value: NaN }]);
    expect(p0.data[0]).toBe(1);
  });

  test("'throw' (the default) throws NonFiniteError naming the parameter and element, and leaves everything untouched", () => {
    const { w, b, opt } = warmAdam('throw');
    expect(new Adam([new Parameter(new Float64Array(1), [1])]).nonFinite).toBe('throw');
    const before = snapshot([w, b], opt);
    w.grad = new Float64Array([0.1, 0.2, Infinity]);
    b.grad = new Float64Array([0.1]);
    let error: unknown;
    try {
      opt.step();
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(NonFiniteError);
    expect((error as NonFiniteError).parameter).toBe('layer.weight');
    expect((error as NonFiniteError).index).toBe(2);
    expect((error as Error).message).toMatch(/layer\.weight/);
    expect(snapshot([w, b], opt)).toEqual(before);
    expect(opt.skippedSteps).toBe(0);
  });

  test("'ignore' propagates NaN into parameters and state, as PyTorch does", () => {
    const { w, b, opt } = warmAdam('ignore');
    w.grad = new Float64Array([0.1, NaN, 0.3]);
    b.grad = new Float64Array([0.1]);
    opt.step();
    expect(Number.isNaN(w.data[1])).toBe(true);
    expect(Number.isFinite(w.data[0])).toBe(true);
    const s = opt.state.get(w)!;
    expect(Number.isNaN(s.exp_avg[1])).toBe(true);
    expect(Number.isNaN(s.exp_avg_sq[1])).toBe(true);
    expect(Number.isFinite(b.data[0])).toBe(true);
    expect(opt.skippedSteps).toBe(0);
    expect(opt.lastStepSkipped).toBe(false);
  });

  test('the policy is checked on the gradients the closure writes', () => {
    const { w, b, opt } = warmAdam('skip');
    const before = snapshot([w, b], opt);
    const loss = opt.step(() => {
      w.grad = new Float64Array([NaN, 0, 0]);
      return 1.5;
    });
    expect(loss).toBe(1.5);
    expect(opt.lastStepSkipped).toBe(true);
    expect(snapshot([w, b], opt)).toEqual(before);
  });
});

describe('gradientsAreFinite / findNonFiniteGradient', () => {
  test('report the first non-finite element in parameter order, skipping parameters without gradients', () => {
    const none = new Parameter(new Float64Array(2), [2], 'none');
    const a = new Parameter(new Float64Array(3), [3], 'a');
    const c = new Parameter(new Float32Array(2), [2], 'c');
    a.grad = new Float64Array([1, 2, 3]);
    c.grad = new Float32Array([0, -Infinity]);
    expect(gradientsAreFinite([none, a])).toBe(true);
    expect(findNonFiniteGradient([none, a])).toBeNull();
    expect(gradientsAreFinite([none, a, c])).toBe(false);
    expect(findNonFiniteGradient([none, a, c])).toEqual({ parameter: c, index: 1, value: -Infinity });
    a.grad[1] = NaN;
    const hit = findNonFiniteGradient([none, a, c])!;
    expect(hit.parameter).toBe(a);
    expect(hit.index).toBe(1);
    expect(hit.value).toBeNaN();
  });

  test('accept a single parameter or an optimizer', () => {
    const p = new Parameter(new Float64Array(1), [1], 'p');
    p.grad = new Float64Array([Infinity]);
    expect(gradientsAreFinite(p)).toBe(false);
    const opt = new Adam([p]);
    expect(findNonFiniteGradient(opt)).toEqual({ parameter: p, index: 0, value: Infinity });
    p.grad = new Float64Array([0]);
    expect(gradientsAreFinite(opt)).toBe(true);
  });
});
