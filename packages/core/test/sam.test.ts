import { ClosureRequiredError, InvalidOptionError, NonFiniteError, OptError, Parameter, StateDictError } from '@opt/tensor';
import { ASAM, Adam, Optimizer, SAM, SGD } from '../src/index';

/** f(w) = ½ Σ a_i w_i², ∇f = a ⊙ w. */
function quadratic(w: Parameter, a: number[]) {
  let calls = 0;
  const closure = () => {
    calls++;
    const g = new Float64Array(w.size);
    let f = 0;
    for (let i = 0; i < w.size; i++) {
      g[i] = a[i]! * w.data[i]!;
      f += 0.5 * a[i]! * w.data[i]! ** 2;
    }
    w.grad = w.dtype === 'float64' ? g : Float32Array.from(g);
    return f;
  };
  return { closure, calls: () => calls };
}

describe('SAM', () => {
  test('one step on a quadratic matches the hand-computed ascent, re-evaluation and SGD step', () => {
    const w = new Parameter(new Float64Array([1, 2]), [2], 'w');
    const { closure, calls } = quadratic(w, [1, 3]);
    const opt = new SAM([w], SGD, { rho: 0.05, lr: 0.1 });
    closure(); // g = [1, 6] at w
    const loss = opt.step(closure);
    const norm = Math.sqrt(1 + 36);
    const e = [(0.05 * 1) / (norm + 1e-12), (0.05 * 6) / (norm + 1e-12)];
    const gPert = [1 * (1 + e[0]!), 3 * (2 + e[1]!)];
    expect(w.data[0]).toBe(1 - 0.1 * gPert[0]!);
    expect(w.data[1]).toBe(2 - 0.1 * gPert[1]!);
    expect(loss).toBeCloseTo(0.5 * (1 + e[0]!) ** 2 + 1.5 * (2 + e[1]!) ** 2, 14);
    expect(calls()).toBe(2);
    // the gradients left in p.grad are those at w + e
    expect(Array.from(w.grad!)).toEqual(gPert);
  });

  test('adaptive (davda54 ASAM, η = 0): e = ρ·w²·g / ‖|w|·g‖', () => {
    const w = new Parameter(new Float64Array([1, -2]), [2], 'w');
    const { closure } = quadratic(w, [1, 3]);
    const opt = new SAM([w], SGD, { rho: 0.05, adaptive: true, lr: 0.1 });
    closure(); // g = [1, -6]
    expect(opt.firstStep()).toBe(true);
    const norm = Math.sqrt(1 + 144); // ‖|w|·g‖ = ‖[1, 12]‖
    expect(w.data[0]).toBe(1 + (0.05 / (norm + 1e-12)) * 1 * 1);
    expect(w.data[1]).toBe(-2 + (0.05 / (norm + 1e-12)) * 4 * -6);
    expect(opt.perturbed).toBe(true);
    closure();
    opt.secondStep();
    expect(w.data[0]).toBeCloseTo(1 - 0.1 * (1 + 0.05 / norm), 14);
  });

  test('ASAM uses T_w = |w| + η with its defaults ρ = 0.5, η = 0.01', () => {
    const w = new Parameter(new Float64Array([1, -2]), [2], 'w');
    const { closure } = quadratic(w, [1, 3]);
    const opt = new ASAM([w], SGD, { lr: 0.1 });
    expect(opt.paramGroups[0]).toMatchObject({ rho: 0.5, adaptive: true, eta: 0.01 });
    closure();
    opt.firstStep();
    const t = [1.01, 2.01];
    const g = [1, -6];
    const norm = Math.hypot(t[0]! * g[0]!, t[1]! * g[1]!);
    const scale = 0.5 / (norm + 1e-12);
    expect(w.data[0]).toBe(1 + scale * (t[0]! * t[0]!) * g[0]!);
    expect(w.data[1]).toBe(-2 + scale * (t[1]! * t[1]!) * g[1]!);
  });

  test('step() without a closure throws ClosureRequiredError and moves nothing', () => {
    const w = new Parameter(new Float64Array([1]), [1], 'w');
    w.grad = new Float64Array([1]);
    const opt = new SAM([w], SGD, { lr: 0.1 });
    expect(() => opt.step()).toThrow(ClosureRequiredError);
    expect(w.data[0]).toBe(1);
  });

  test('firstStep()/secondStep() driven by hand equal step(closure) bit for bit, zeroing grads in place; out-of-order calls throw', () => {
    const a = new Parameter(new Float32Array([0.7, -1.3, 0.2]), [3], 'a');
    const b = new Parameter(new Float32Array([0.7, -1.3, 0.2]), [3], 'b');
    const qa = quadratic(a, [1, 4, 9]);
    const qb = quadratic(b, [1, 4, 9]);
    const byStep = new SAM([a], Adam, { rho: 0.1, lr: 0.01 });
    const byHand = new SAM([b], Adam, { rho: 0.1, lr: 0.01 });
    for (let i = 0; i < 5; i++) {
      qa.closure();
      byStep.step(qa.closure);
      qb.closure();
      byHand.firstStep({ zeroGrad: true });
      qb.closure();
      byHand.secondStep({ zeroGrad: true });
    }
    expect(Array.from(a.data)).toEqual(Array.from(b.data));
    // zeroGrad zeroes in place: a closure's captured gradient buffers stay the parameter's gradient.
    expect(Array.from(b.grad!)).toEqual([0, 0, 0]);
    expect(() => byHand.secondStep()).toThrow(OptError);
    qb.closure();
    byHand.firstStep();
    expect(() => byHand.firstStep()).toThrow(/already perturbed/);
    expect(() => byHand.stateDict()).toThrow(StateDictError);
  });

  test('the weights are restored exactly (not by subtraction), also when the closure throws', () => {
    const w = new Parameter(new Float32Array([0.1, 1e6]), [2], 'w');
    const { closure } = quadratic(w, [1, 1]);
    const opt = new SAM([w], SGD, { rho: 0.3, lr: 0 });
    closure();
    opt.step(closure);
    expect(Array.from(w.data)).toEqual([Math.fround(0.1), 1e6]);
    closure();
    expect(() =>
      opt.step(() => {
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(Array.from(w.data)).toEqual([Math.fround(0.1), 1e6]);
    expect(opt.perturbed).toBe(false);
  });

  test('per-group rho (ρ = 0 is the base optimizer); parameters without a gradient are not perturbed', () => {
    const a = new Parameter(new Float64Array([1]), [1], 'a');
    const b = new Parameter(new Float64Array([1]), [1], 'b');
    const c = new Parameter(new Float64Array([5]), [1], 'c');
    const opt = new SAM([{ params: [a], rho: 0 }, { params: [b, c] }], SGD, { rho: 0.2, lr: 0.1 });
    expect(opt.paramGroups.map((g) => g.rho)).toEqual([0, 0.2]);
    const closure = () => {
      a.grad = new Float64Array([2 * a.data[0]!]);
      b.grad = new Float64Array([2 * b.data[0]!]);
      return 0;
    };
    closure();
    opt.firstStep();
    // the global norm includes a's gradient even though its group has ρ = 0
    expect(a.data[0]).toBe(1);
    expect(b.data[0]).toBe(1 + (0.2 / (Math.hypot(2, 2) + 1e-12)) * 2);
    expect(c.data[0]).toBe(5);
    closure();
    opt.secondStep();
    expect(a.data[0]).toBe(1 - 0.1 * 2);
    expect(c.data[0]).toBe(5);
  });

  test('paramGroups are the base optimizer’s objects, carrying rho/adaptive/eta; addParamGroup splits the options', () => {
    const w = new Parameter(new Float64Array([1]), [1], 'w');
    const v = new Parameter(new Float64Array([1]), [1], 'v');
    const opt = new SAM([w], SGD, { rho: 0.05, lr: 0.1, momentum: 0.9 });
    expect(opt).toBeInstanceOf(Optimizer);
    expect(opt.baseOptimizer).toBeInstanceOf(SGD);
    expect(opt.paramGroups[0]).toBe(opt.baseOptimizer.paramGroups[0]);
    expect(opt.paramGroups[0]).toMatchObject({ lr: 0.1, momentum: 0.9, rho: 0.05, adaptive: false, eta: 0 });
    opt.addParamGroup({ params: [v], lr: 0.5, rho: 0.2 });
    expect(opt.baseOptimizer.paramGroups[1]).toBe(opt.paramGroups[1]);
    expect(opt.paramGroups[1]).toMatchObject({ lr: 0.5, rho: 0.2, momentum: 0.9 });
    expect(() => opt.addParamGroup({ params: [new Parameter(new Float64Array(1), [1])], rho: -1 })).toThrow(InvalidOptionError);
    expect(opt.paramGroups.length).toBe(2);
  });

  test('invalid SAM options and unknown base options throw InvalidOptionError', () => {
    const w = new Parameter(new Float64Array([1]), [1]);
    expect(() => new SAM([w], SGD, { rho: -0.1 })).toThrow(/rho/);
    expect(() => new SAM([w], SGD, { adaptive: 1 as unknown as boolean })).toThrow(InvalidOptionError);
    expect(() => new SAM([w], SGD, { lr: 0.1, weight_decay: 0.1 } as never)).toThrow(/weightDecay/);
    expect(() => new SAM([{ params: [w], rho: NaN }], SGD, {})).toThrow(/rho/);
  });

  test("non-finite gradients: 'skip' at w moves nothing and skips the closure; at w + e restores w and skips the base step", () => {
    const w = new Parameter(new Float64Array([1, 2]), [2], 'w');
    const opt = new SAM([w], Adam, { lr: 0.1, nonFinite: 'skip' });
    let calls = 0;
    w.grad = new Float64Array([NaN, 1]);
    expect(opt.step(() => (calls++, 0))).toBeUndefined();
    expect(calls).toBe(0);
    expect(Array.from(w.data)).toEqual([1, 2]);
    expect(opt.skippedSteps).toBe(1);
    w.grad = new Float64Array([1, 1]);
    opt.step(() => {
      w.grad = new Float64Array([1, Infinity]);
      return 0;
    });
    expect(Array.from(w.data)).toEqual([1, 2]);
    expect(opt.baseOptimizer.state.size).toBe(0);
    expect(opt.skippedSteps).toBe(2);
    expect(opt.lastStepSkipped).toBe(true);
  });

  test("'throw' at w + e throws NonFiniteError after restoring w", () => {
    const w = new Parameter(new Float64Array([1, 2]), [2], 'w');
    const opt = new SAM([w], SGD, { lr: 0.1 });
    w.grad = new Float64Array([1, 1]);
    expect(() =>
      opt.step(() => {
        w.grad = new Float64Array([NaN, 0]);
        return 0;
      }),
    ).toThrow(NonFiniteError);
    expect(Array.from(w.data)).toEqual([1, 2]);
    expect(opt.perturbed).toBe(false);
  });

  test('stateDict → JSON → loadStateDict resumes bit-identically (SAM around Adam, float32)', () => {
    const make = () => {
      const w = new Parameter(new Float32Array([1.5, -0.5, 0.25]), [3], 'w');
      const opt = new SAM([w], Adam, { rho: 0.05, lr: 0.02, betas: [0.8, 0.99] });
      return { w, opt, q: quadratic(w, [1, 10, 100]) };
    };
    const run = (s: ReturnType<typeof make>, n: number) => {
      for (let i = 0; i < n; i++) {
        s.q.closure();
        s.opt.step(s.q.closure);
      }
    };
    const ref = make();
    run(ref, 9);
    const first = make();
    run(first, 4);
    const saved = JSON.parse(JSON.stringify(first.opt.stateDict()));
    expect(saved.optimizer).toBe('SAM');
    expect(saved.param_groups[0]).toMatchObject({ rho: 0.05, adaptive: false, eta: 0 });
    expect(saved.extra.inner.optimizer).toBe('Adam');
    const resumed = make();
    resumed.w.data.set(first.w.data);
    resumed.opt.loadStateDict(saved);
    run(resumed, 5);
    expect(Array.from(resumed.w.data)).toEqual(Array.from(ref.w.data));
    expect(JSON.stringify(resumed.opt.stateDict())).toBe(JSON.stringify(ref.opt.stateDict()));
  });

  test('loading restores rho; bad or foreign state dicts throw StateDictError and change nothing', () => {
    const w = new Parameter(new Float64Array([1, 2]), [2], 'w');
    const opt = new SAM([w], Adam, { rho: 0.05, lr: 0.1 });
    const q = quadratic(w, [1, 2]);
    q.closure();
    opt.step(q.closure);
    const good = JSON.parse(JSON.stringify(opt.stateDict()));
    const other = new SAM([new Parameter(new Float64Array([1, 2]), [2], 'w')], Adam, { rho: 0.5, lr: 0.1 });
    other.loadStateDict(good);
    expect(other.paramGroups[0]!.rho).toBe(0.05);
    const before = JSON.stringify(opt.stateDict());
    const badRho = JSON.parse(JSON.stringify(good));
    badRho.param_groups[0].rho = -1;
    expect(() => opt.loadStateDict(badRho)).toThrow(StateDictError);
    const badInner = JSON.parse(JSON.stringify(good));
    badInner.extra.inner.state['0'].step = 'x';
    expect(() => opt.loadStateDict(badInner)).toThrow(StateDictError);
    const asam = new ASAM([new Parameter(new Float64Array([1, 2]), [2], 'w')], Adam, { lr: 0.1 });
    expect(() => asam.loadStateDict(good)).toThrow(StateDictError);
    expect(JSON.stringify(opt.stateDict())).toBe(before);
  });

  test('SAM and ASAM around SGD converge on an ill-conditioned quadratic to within the ρ-neighbourhood', () => {
    for (const make of [
      (w: Parameter) => new SAM([w], SGD, { rho: 0.01, lr: 0.05, momentum: 0.5 }),
      (w: Parameter) => new ASAM([w], SGD, { rho: 0.05, lr: 0.05, momentum: 0.5 }),
    ]) {
      const w = new Parameter(new Float64Array([3, -2, 1]), [3], 'w');
      const { closure } = quadratic(w, [1, 4, 10]);
      const opt = make(w);
      const initial = closure();
      let loss = initial;
      for (let i = 0; i < 300; i++) {
        closure();
        loss = opt.step(closure)!;
      }
      expect(loss).toBeLessThan(initial * 1e-4);
      // near the minimum SGD on the perturbed gradient settles within about lr·a·ρ of 0
      expect(Math.max(...Array.from(w.data, Math.abs))).toBeLessThan(0.05);
    }
  });
});

describe('SAM with a closure that writes into captured gradient buffers', () => {
  test('the buffer captured before the loop stays the gradient and training progresses', () => {
    const p = Parameter.from([3, 3], { dtype: 'float64', name: 'x' });
    const g = p.ensureGrad();
    const closure = () => {
      g[0] = p.data[0]!;
      g[1] = 10 * p.data[1]!;
      return 0.5 * p.data[0]! ** 2 + 5 * p.data[1]! ** 2;
    };
    const opt = new SAM([p], SGD, { lr: 0.05, rho: 0.01 });
    const start = closure();
    for (let k = 0; k < 50; k++) {
      closure();
      opt.step(closure);
    }
    expect(p.grad).toBe(g);
    expect(closure()).toBeLessThan(start * 1e-3);
  });
});
