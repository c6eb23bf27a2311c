import { InvalidOptionError, NonFiniteError, Parameter, StateDictError } from '@opt/tensor';
import { Adam, Lookahead, Optimizer, SGD } from '../src/index';

function p64(values: number[], name = 'w'): Parameter {
  return new Parameter(Float64Array.from(values), [values.length], name);
}

describe('Lookahead', () => {
  test('every k inner steps: slow ← slow + α(fast − slow), fast ← slow (hand-computed with SGD)', () => {
    const w = p64([1]);
    const opt = new Lookahead(new SGD([w], { lr: 0.1 }), { k: 2, alpha: 0.5 });
    const trajectory: number[] = [];
    for (let i = 0; i < 4; i++) {
      w.grad = new Float64Array([1]);
      opt.step();
      trajectory.push(w.data[0]!);
    }
    const f1 = 1 - 0.1;
    const f2 = f1 - 0.1;
    const s1 = 1 + 0.5 * (f2 - 1);
    const f3 = s1 - 0.1;
    const f4 = f3 - 0.1;
    const s2 = s1 + 0.5 * (f4 - s1);
    expect(trajectory).toEqual([f1, s1, f3, s2]);
    expect(s1).toBeCloseTo(0.9, 15);
    expect(s2).toBeCloseTo(0.8, 15);
    expect(opt.lookaheadStep).toBe(4);
    expect(opt.state.get(w)!.slow_buffer[0]).toBe(s2);
  });

  test('slow weights start at the parameters at construction; the inner state survives synchronisation', () => {
    const w = p64([2, -2]);
    const inner = new SGD([w], { lr: 0.5, momentum: 0.9 });
    const opt = new Lookahead(inner, { k: 3, alpha: 0 });
    expect(Array.from(opt.state.get(w)!.slow_buffer)).toEqual([2, -2]);
    for (let i = 0; i < 3; i++) {
      w.grad = new Float64Array([1, 1]);
      opt.step();
    }
    // α = 0: the fast weights go back to the initial weights, momentum is kept
    expect(Array.from(w.data)).toEqual([2, -2]);
    expect(inner.state.get(w)!.momentum_buffer![0]).toBeCloseTo(1 + 0.9 + 0.81, 15);
  });

  test('k = 1, α = 1 reproduces the inner optimizer bit for bit (Adam, float32)', () => {
    const a = new Parameter(new Float32Array([0.5, -0.3]), [2], 'a');
    const b = new Parameter(new Float32Array([0.5, -0.3]), [2], 'b');
    const la = new Lookahead(new Adam([a], { lr: 0.01 }), { k: 1, alpha: 1 });
    const ref = new Adam([b], { lr: 0.01 });
    for (let i = 0; i < 5; i++) {
      a.grad = new Float32Array([Math.sin(i), 0.1 * i]);
      b.grad = new Float32Array([Math.sin(i), 0.1 * i]);
      la.step();
      ref.step();
    }
    expect(Array.from(a.data)).toEqual(Array.from(b.data));
  });

  test('paramGroups are the inner optimizer’s objects (a scheduler changing lr drives the inner step)', () => {
    const w = p64([1]);
    const inner = new SGD([w], { lr: 0.1 });
    const opt = new Lookahead(inner, { k: 10 });
    expect(opt).toBeInstanceOf(Optimizer);
    expect(opt.paramGroups[0]).toBe(inner.paramGroups[0]);
    opt.paramGroups[0]!.lr = 0.25;
    w.grad = new Float64Array([2]);
    opt.step();
    expect(w.data[0]).toBe(0.5);
  });

  test('addParamGroup through the wrapper reaches the inner optimizer and starts the group’s slow weights', () => {
    const w = p64([1], 'w');
    const v = p64([3], 'v');
    const inner = new SGD([w], { lr: 0.1 });
    const opt = new Lookahead(inner, { k: 1, alpha: 0.5 });
    opt.addParamGroup({ params: [v], lr: 1 });
    expect(inner.paramGroups.length).toBe(2);
    expect(opt.paramGroups[1]).toBe(inner.paramGroups[1]);
    expect(opt.state.get(v)!.slow_buffer[0]).toBe(3);
    v.grad = new Float64Array([1]);
    opt.step();
    expect(v.data[0]).toBe(3 + 0.5 * (2 - 3));
  });

  test('the closure is evaluated by the inner step and its loss returned; zeroGrad clears the gradients', () => {
    const w = p64([1, 2]);
    const opt = new Lookahead(new SGD([w], { lr: 0.1 }));
    const loss = opt.step(() => {
      w.grad = new Float64Array([1, 1]);
      return 42;
    });
    expect(loss).toBe(42);
    expect(Array.from(w.data)).toEqual([0.9, 1.9]);
    opt.zeroGrad();
    expect(w.grad).toBeNull();
  });

  test('a step the inner optimizer skips (non-finite gradient) does not count towards k', () => {
    const w = p64([1], 'w');
    const reports: string[] = [];
    const opt = new Lookahead(new SGD([w], { lr: 0.1 }), { k: 2, alpha: 0.5, nonFinite: 'skip', onNonFinite: (r) => reports.push(r.parameter) });
    w.grad = new Float64Array([1]);
    opt.step();
    w.grad = new Float64Array([NaN]);
    opt.step();
    expect(opt.lastStepSkipped).toBe(true);
    expect(opt.skippedSteps).toBe(1);
    expect(opt.lookaheadStep).toBe(1);
    expect(reports).toEqual(['w']);
    w.grad = new Float64Array([1]);
    opt.step();
    expect(opt.lastStepSkipped).toBe(false);
    expect(w.data[0]).toBe(1 + 0.5 * (0.9 - 0.1 - 1));
  });

  test("the non-finite policy defaults to the inner optimizer's; 'throw' leaves everything untouched", () => {
    const w = p64([1], 'w');
    const opt = new Lookahead(new SGD([w], { lr: 0.1, nonFinite: 'skip' }));
    expect(opt.nonFinite).toBe('skip');
    const strict = new Lookahead(new SGD([w], { lr: 0.1 }), { k: 1 });
    w.grad = new Float64Array([Infinity]);
    expect(() => strict.step()).toThrow(NonFiniteError);
    expect(w.data[0]).toBe(1);
    expect(strict.lookaheadStep).toBe(0);
  });

  test('stateDict → JSON → loadStateDict resumes bit-identically mid-cycle (Adam, float32)', () => {
    const make = () => {
      const w = new Parameter(new Float32Array([0.5, -1.25, 2]), [3], 'w');
      const b = new Parameter(new Float32Array([0.1]), [1], 'b');
      const opt = new Lookahead(new Adam([w, b], { lr: 0.05, amsgrad: true }), { k: 3, alpha: 0.4 });
      return { w, b, opt };
    };
    const grads = (i: number) => [new Float32Array([Math.sin(i), Math.cos(2 * i), 0.3]), new Float32Array([0.2 * i - 1])];
    const run = (s: ReturnType<typeof make>, from: number, to: number) => {
      for (let i = from; i < to; i++) {
        [s.w.grad, s.b.grad] = grads(i);
        s.opt.step();
      }
    };
    const ref = make();
    run(ref, 0, 13);
    const first = make();
    run(first, 0, 7);
    const json = JSON.stringify(first.opt.stateDict());
    const saved = JSON.parse(json);
    expect(saved.optimizer).toBe('Lookahead');
    expect(saved.extra.lookahead_step).toBe(7);
    expect(saved.extra.inner.optimizer).toBe('Adam');
    expect(Object.keys(saved.state['0'])).toEqual(['slow_buffer']);
    const resumed = make();
    resumed.w.data.set(first.w.data);
    resumed.b.data.set(first.b.data);
    resumed.opt.loadStateDict(saved);
    run(resumed, 7, 13);
    expect(Array.from(resumed.w.data)).toEqual(Array.from(ref.w.data));
    expect(Array.from(resumed.b.data)).toEqual(Array.from(ref.b.data));
    expect(JSON.stringify(resumed.opt.stateDict())).toBe(JSON.stringify(ref.opt.stateDict()));
  });

  test('k and alpha are restored from the state dict; extra.inner loads into a bare inner optimizer', () => {
    const w = p64([1, 2]);
    const opt = new Lookahead(new Adam([w], { lr: 0.1 }), { k: 7, alpha: 0.3 });
    w.grad = new Float64Array([1, -1]);
    opt.step();
    const sd = JSON.parse(JSON.stringify(opt.stateDict()));
    const other = new Lookahead(new Adam([p64([1, 2])], { lr: 0.1 }), { k: 2, alpha: 0.9 });
    other.loadStateDict(sd);
    expect([other.k, other.alpha, other.lookaheadStep]).toEqual([7, 0.3, 1]);
    const bare = new Adam([p64([1, 2])], { lr: 0.1 });
    bare.loadStateDict(sd.extra.inner);
    expect(bare.state.get(bare.paramGroups[0]!.params[0]!)!.step).toBe(1);
  });

  test('a bad state dict throws StateDictError and leaves the wrapper and the inner optimizer unchanged', () => {
    const w = p64([1, 2], 'w');
    const inner = new Adam([w], { lr: 0.1 });
    const opt = new Lookahead(inner, { k: 2 });
    for (let i = 0; i < 3; i++) {
      w.grad = new Float64Array([1, -1]);
      opt.step();
    }
    const good = JSON.parse(JSON.stringify(opt.stateDict()));
    const before = JSON.stringify(opt.stateDict());
    const mutate = (f: (sd: typeof good) => void) => {
      const sd = JSON.parse(JSON.stringify(good));
      f(sd);
      return sd;
    };
    const cases = [
      mutate((sd) => sd.state['0'].slow_buffer.data.pop()),
      mutate((sd) => (sd.extra.k = 0)),
      mutate((sd) => (sd.extra.alpha = 2)),
      mutate((sd) => delete sd.extra.inner),
      mutate((sd) => (sd.extra.inner.optimizer = 'SGD')),
      mutate((sd) => (sd.extra.inner.state['0'].exp_avg_sq.data = [1])),
      mutate((sd) => (sd.optimizer = 'Adam')),
      mutate((sd) => (sd.param_groups[0].lr = -1)),
    ];
    for (const bad of cases) expect(() => opt.loadStateDict(bad)).toThrow(StateDictError);
    expect(JSON.stringify(opt.stateDict())).toBe(before);
    expect([opt.k, opt.lookaheadStep]).toEqual([2, 3]);
  });

  test('invalid k, alpha or inner optimizer throw InvalidOptionError', () => {
    const w = p64([1]);
    expect(() => new Lookahead(new SGD([w]), { k: 0 })).toThrow(InvalidOptionError);
    expect(() => new Lookahead(new SGD([w]), { k: 2.5 })).toThrow(/k/);
    expect(() => new Lookahead(new SGD([w]), { alpha: 1.5 })).toThrow(/alpha/);
    expect(() => new Lookahead({} as unknown as SGD)).toThrow(InvalidOptionError);
  });

  test('Lookahead converges on a quadratic and wraps another wrapper', () => {
    const w = p64([3, -4]);
    const opt = new Lookahead(new Lookahead(new SGD([w], { lr: 0.1, momentum: 0.5 }), { k: 2 }), { k: 3 });
    for (let i = 0; i < 200; i++) {
      w.grad = new Float64Array([2 * w.data[0]!, 2 * w.data[1]!]);
      opt.step();
    }
    expect(Math.hypot(w.data[0]!, w.data[1]!)).toBeLessThan(1e-6);
    const sd = JSON.parse(JSON.stringify(opt.stateDict()));
    expect(sd.extra.inner.optimizer).toBe('Lookahead');
    expect(sd.extra.inner.extra.inner.optimizer).toBe('SGD');
  });
});
