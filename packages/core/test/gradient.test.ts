import { InvalidOptionError, NonFiniteError, Parameter, Rng, StateDictError } from '@opt/tensor';
import {
  AccumulatingOptimizer,
  Adam,
  GradientAccumulator,
  GradientNoise,
  SGD,
  centralizeGradients,
} from '../src/index';

function p64(values: number[], shape: number[], name?: string): Parameter {
  return new Parameter(Float64Array.from(values), shape, name);
}

describe('centralizeGradients', () => {
  test('subtracts the mean over every dimension but the first, per output row', () => {
    const w = p64([0, 0, 0, 0, 0, 0], [2, 3], 'w');
    w.grad = new Float64Array([1, 2, 3, 10, 10, 40]);
    centralizeGradients([w]);
    expect(Array.from(w.grad)).toEqual([-1, 0, 1, -10, -10, 20]);
  });

  test('a 4-D (convolution) gradient is centred over [in, kh, kw] for each output channel', () => {
    const k = Parameter.zeros([2, 1, 2, 2], 'float64', 'conv');
    k.grad = new Float64Array([1, 2, 3, 6, 0, 0, 0, 8]);
    centralizeGradients(k);
    expect(Array.from(k.grad)).toEqual([-2, -1, 0, 3, -2, -2, -2, 6]);
  });

  test('1-D gradients are left alone unless includeVectors is set', () => {
    const b = p64([0, 0, 0], [3], 'b');
    b.grad = new Float64Array([1, 2, 6]);
    centralizeGradients([b]);
    expect(Array.from(b.grad)).toEqual([1, 2, 6]);
    centralizeGradients([b], { includeVectors: true });
    expect(Array.from(b.grad)).toEqual([-2, -1, 3]);
  });

  test('convOnly restricts it to parameters with more than 3 dimensions', () => {
    const fc = Parameter.zeros([2, 2], 'float64', 'fc');
    fc.grad = new Float64Array([1, 3, 5, 9]);
    const conv = Parameter.zeros([1, 1, 1, 2], 'float64', 'conv');
    conv.grad = new Float64Array([1, 3]);
    centralizeGradients([fc, conv], { convOnly: true });
    expect(Array.from(fc.grad)).toEqual([1, 3, 5, 9]);
    expect(Array.from(conv.grad)).toEqual([-1, 1]);
  });

  test('skips parameters without a gradient, works on float32 and through an optimizer', () => {
    const none = Parameter.zeros([2, 2], 'float32', 'none');
    const w = Parameter.zeros([1, 4], 'float32', 'w');
    w.grad = new Float32Array([0.1, 0.2, 0.3, 0.4]);
    centralizeGradients(new SGD([none, w]));
    expect(none.grad).toBeNull();
    const expected = [0.1, 0.2, 0.3, 0.4].map((x) => Math.fround(Math.fround(x) - (Math.fround(0.1) + Math.fround(0.2) + Math.fround(0.3) + Math.fround(0.4)) / 4));
    expect(Array.from(w.grad)).toEqual(expected);
    let sum = 0;
    for (const v of w.grad) sum += v;
    expect(Math.abs(sum)).toBeLessThan(1e-7);
  });

  test('invalid options are rejected', () => {
    expect(() => centralizeGradients([], { includeVectors: 'yes' as unknown as boolean })).toThrow(InvalidOptionError);
  });
});

describe('GradientAccumulator', () => {
  test('apply() writes the mean of the added gradients into p.grad and resets', () => {
    const w = p64([0, 0], [2], 'w');
    const acc = new GradientAccumulator([w], { steps: 3 });
    const grads = [
      [1, 2],
      [3, -4],
      [5, 8],
    ];
    for (const [i, g] of grads.entries()) {
      expect(acc.ready).toBe(false);
      w.grad = Float64Array.from(g);
      acc.add();
      expect(acc.count).toBe(i + 1);
    }
    expect(acc.ready).toBe(true);
    const last = w.grad!;
    expect(acc.apply()).toBe(true);
    expect(w.grad).toBe(last); // written in place, no new buffer
    expect(Array.from(w.grad!)).toEqual([3, 2]);
    expect(acc.count).toBe(0);
    expect(acc.ready).toBe(false);
    // the next cycle starts from zero
    w.grad = new Float64Array([10, 20]);
    acc.add();
    acc.apply();
    expect(Array.from(w.grad)).toEqual([10, 20]);
  });

  test('apply({ average: false }) writes the sum', () => {
    const w = p64([0], [1]);
    const acc = new GradientAccumulator(w, { steps: 2 });
    w.grad = new Float64Array([1.5]);
    acc.add();
    w.grad = new Float64Array([2]);
    acc.add();
    acc.apply({ average: false });
    expect(w.grad[0]).toBe(3.5);
  });

  test('a parameter without a gradient in some micro-batches is averaged over all of them; one with none stays null', () => {
    const a = p64([0], [1], 'a');
    const b = p64([0], [1], 'b');
    const never = p64([0], [1], 'never');
    const acc = new GradientAccumulator([a, b, never], { steps: 2 });
    a.grad = new Float64Array([4]);
    b.grad = new Float64Array([6]);
    acc.add();
    a.grad = new Float64Array([2]);
    b.grad = null; // b received no gradient in the last micro-batch
    acc.add();
    acc.apply();
    expect(a.grad[0]).toBe(3);
    expect(b.grad![0]).toBe(3);
    expect(never.grad).toBeNull();
    // the buffer given to b is reused on the next apply
    const own = b.grad!;
    b.grad = null;
    a.grad = new Float64Array([0]);
    acc.add();
    a.grad = null;
    acc.add();
    expect(b.grad).toBeNull();
    acc.apply();
    expect(b.grad).toBeNull();
    b.grad = new Float64Array([8]);
    acc.add();
    b.grad = null;
    acc.apply();
    expect(b.grad).toBe(own);
    expect(own[0]).toBe(8);
  });

  test('apply() with nothing added touches nothing; reset() drops the sums', () => {
    const w = p64([0], [1]);
    w.grad = new Float64Array([7]);
    const acc = new GradientAccumulator([w], { steps: 2 });
    expect(acc.apply()).toBe(false);
    expect(w.grad[0]).toBe(7);
    acc.add();
    acc.reset();
    w.grad = new Float64Array([1]);
    acc.add();
    acc.apply();
    expect(w.grad[0]).toBe(1);
  });

  test('float32 sums stay float32 and steps is validated', () => {
    const w = Parameter.zeros([1], 'float32');
    const acc = new GradientAccumulator([w], { steps: 2 });
    w.grad = new Float32Array([0.1]);
    acc.add();
    w.grad = new Float32Array([0.2]);
    acc.add();
    acc.apply();
    expect(w.grad[0]).toBe(Math.fround(Math.fround(Math.fround(0.1) + Math.fround(0.2)) * 0.5));
    expect(() => new GradientAccumulator([w], { steps: 0 })).toThrow(InvalidOptionError);
    expect(() => new GradientAccumulator([w], { steps: 1.5 })).toThrow(/steps/);
  });
});

describe('AccumulatingOptimizer', () => {
  test('steps the inner optimizer only every k calls, with the mean gradient', () => {
    const w = p64([1], [1], 'w');
    const opt = new AccumulatingOptimizer(new SGD([w], { lr: 0.1 }), { steps: 4 });
    const applied: boolean[] = [];
    for (const x of [1, 2, 3, 4]) {
      w.grad = new Float64Array([x]);
      opt.step();
      applied.push(opt.lastStepApplied);
      if (x < 4) expect(w.data[0]).toBe(1);
    }
    expect(applied).toEqual([false, false, false, true]);
    expect(w.data[0]).toBe(1 - 0.1 * 2.5);
    expect(opt.accumulated).toBe(0);
  });

  test('k accumulated micro-batches equal one Adam step on the mean gradient (bit for bit)', () => {
    const a = p64([0.5, -0.25], [2], 'a');
    const b = p64([0.5, -0.25], [2], 'b');
    const acc = new AccumulatingOptimizer(new Adam([a], { lr: 0.01 }), { steps: 2 });
    const ref = new Adam([b], { lr: 0.01 });
    for (let t = 0; t < 3; t++) {
      const g1 = [0.1 * t, -0.3];
      const g2 = [0.5, 0.2 * t];
      a.grad = Float64Array.from(g1);
      acc.step();
      a.grad = Float64Array.from(g2);
      acc.step();
      b.grad = Float64Array.from([(g1[0]! + g2[0]!) * 0.5, (g1[1]! + g2[1]!) * 0.5]);
      ref.step();
    }
    expect(Array.from(a.data)).toEqual(Array.from(b.data));
    expect((acc.inner as Adam).state.get(a)!.step).toBe(3);
  });

  test('paramGroups are the inner optimizer’s objects, so a learning-rate change reaches it', () => {
    const w = p64([1], [1]);
    const inner = new SGD([w], { lr: 0.1 });
    const opt = new AccumulatingOptimizer(inner, { steps: 1, average: false });
    expect(opt.paramGroups[0]).toBe(inner.paramGroups[0]);
    opt.paramGroups[0]!.lr = 0.5;
    w.grad = new Float64Array([2]);
    opt.step();
    expect(w.data[0]).toBe(0);
  });

  test("'skip' drops a non-finite micro-batch without counting it; 'throw' throws before adding", () => {
    const w = p64([1], [1], 'w');
    const opt = new AccumulatingOptimizer(new SGD([w], { lr: 1 }), { steps: 2, nonFinite: 'skip' });
    w.grad = new Float64Array([1]);
    opt.step();
    w.grad = new Float64Array([NaN]);
    opt.step();
    expect(opt.skippedSteps).toBe(1);
    expect(opt.accumulated).toBe(1);
    w.grad = new Float64Array([3]);
    opt.step();
    expect(w.data[0]).toBe(1 - 2);
    const v = p64([1], [1], 'v');
    const strict = new AccumulatingOptimizer(new SGD([v], { lr: 1 }), { steps: 2 });
    v.grad = new Float64Array([Infinity]);
    expect(() => strict.step()).toThrow(NonFiniteError);
    expect(strict.accumulated).toBe(0);
  });

  test('flush() steps early with a partial accumulation', () => {
    const w = p64([0], [1]);
    const opt = new AccumulatingOptimizer(new SGD([w], { lr: 1 }), { steps: 8 });
    w.grad = new Float64Array([2]);
    opt.step();
    w.grad = new Float64Array([4]);
    opt.step();
    opt.flush();
    expect(w.data[0]).toBe(-3);
    opt.flush(); // nothing accumulated: no step
    expect(w.data[0]).toBe(-3);
  });

  test('a mid-accumulation checkpoint (stateDict → JSON → loadStateDict) resumes bit-identically', () => {
    const make = () => {
      const w = new Parameter(new Float32Array([0.3, -0.7, 1.1]), [3], 'w');
      const opt = new AccumulatingOptimizer(new Adam([w], { lr: 0.05 }), { steps: 3 });
      return { w, opt };
    };
    const grad = (i: number) => new Float32Array([Math.sin(i), Math.cos(i), 0.1 * i]);
    const ref = make();
    for (let i = 0; i < 11; i++) {
      ref.w.grad = grad(i);
      ref.opt.step();
    }
    const first = make();
    for (let i = 0; i < 7; i++) {
      first.w.grad = grad(i);
      first.opt.step();
    }
    expect(first.opt.accumulated).toBe(1);
    const json = JSON.stringify(first.opt.stateDict());
    const resumed = make();
    resumed.w.data.set(first.w.data);
    resumed.opt.loadStateDict(JSON.parse(json));
    expect(resumed.opt.accumulated).toBe(1);
    for (let i = 7; i < 11; i++) {
      resumed.w.grad = grad(i);
      resumed.opt.step();
    }
    expect(Array.from(resumed.w.data)).toEqual(Array.from(ref.w.data));
    expect(JSON.stringify(resumed.opt.stateDict())).toEqual(JSON.stringify(ref.opt.stateDict()));
  });

  test('loading a state dict with bad accumulation data throws StateDictError and changes nothing', () => {
    const w = p64([1, 2], [2], 'w');
    const opt = new AccumulatingOptimizer(new Adam([w]), { steps: 2 });
    w.grad = new Float64Array([1, 1]);
    opt.step();
    opt.step();
    const good = opt.stateDict() as unknown as { extra: { accumulated: number; inner: { state: Record<string, unknown> } } };
    const before = JSON.stringify(opt.stateDict());
    const bad = JSON.parse(JSON.stringify(good));
    bad.extra.accumulated = -1;
    expect(() => opt.loadStateDict(bad)).toThrow(StateDictError);
    const badInner = JSON.parse(JSON.stringify(good));
    badInner.extra.inner.state['0'].exp_avg.data.pop();
    expect(() => opt.loadStateDict(badInner)).toThrow(StateDictError);
    expect(JSON.stringify(opt.stateDict())).toBe(before);
  });
});

describe('GradientNoise', () => {
  test('σ²_t = η/(1+t)^γ with the paper’s γ = 0.55 and η = 0.01 by default', () => {
    const w = p64([0], [1]);
    const noise = new GradientNoise([w]);
    expect(noise.eta).toBe(0.01);
    expect(noise.gamma).toBe(0.55);
    expect(noise.variance(0)).toBe(0.01);
    expect(noise.variance(9)).toBeCloseTo(0.01 / 10 ** 0.55, 15);
    const custom = new GradientNoise([w], { eta: 0.3, gamma: 0.55 });
    expect(custom.variance(3)).toBeCloseTo(0.3 / 4 ** 0.55, 15);
  });

  test('apply() adds σ_t·z with z from the seeded Rng, in parameter order, then advances t', () => {
    const a = p64([0, 0], [2], 'a');
    const none = p64([0], [1], 'none');
    const b = p64([0], [1], 'b');
    a.grad = new Float64Array([1, 2]);
    b.grad = new Float64Array([3]);
    const noise = new GradientNoise([a, none, b], { eta: 1, seed: 42 });
    const sigma0 = noise.apply();
    expect(sigma0).toBe(1);
    const z = new Rng(42);
    expect(Array.from(a.grad)).toEqual([1 + z.normal(), 2 + z.normal()]);
    expect(b.grad[0]).toBe(3 + z.normal());
    expect(none.grad).toBeNull();
    expect(noise.t).toBe(1);
    a.grad = new Float64Array([0, 0]);
    b.grad = null;
    const sigma1 = noise.apply();
    expect(sigma1).toBe(Math.sqrt(1 / 2 ** 0.55));
    expect(Array.from(a.grad)).toEqual([sigma1 * z.normal(), sigma1 * z.normal()]);
  });

  test('the noise has the scheduled variance over many elements', () => {
    const w = Parameter.zeros([100000], 'float64');
    w.grad = new Float64Array(100000);
    const noise = new GradientNoise(w, { eta: 0.3, seed: 7 });
    noise.t = 4;
    noise.apply();
    let s2 = 0;
    for (const v of w.grad) s2 += v * v;
    const expected = 0.3 / 5 ** 0.55;
    expect(Math.abs(s2 / 100000 - expected)).toBeLessThan(4 * expected * Math.sqrt(2 / 100000));
  });

  test('the same seed reproduces the noise; stateDict → JSON → loadStateDict resumes the same stream', () => {
    const run = (n: number, noise: GradientNoise, w: Parameter) => {
      const out: number[] = [];
      for (let i = 0; i < n; i++) {
        w.grad = new Float64Array(3);
        noise.apply();
        out.push(...w.grad);
      }
      return out;
    };
    const w1 = p64([0, 0, 0], [3]);
    const w2 = p64([0, 0, 0], [3]);
    const n1 = new GradientNoise(w1, { eta: 0.3, seed: 11 });
    const n2 = new GradientNoise(w2, { eta: 0.3, seed: 11 });
    expect(run(3, n1, w1)).toEqual(run(3, n2, w2));
    const saved = JSON.parse(JSON.stringify(n1.stateDict()));
    const expected = run(4, n1, w1);
    const n3 = new GradientNoise(w2, { eta: 1, seed: 999 });
    n3.loadStateDict(saved);
    expect(n3.t).toBe(3);
    expect(n3.eta).toBe(0.3);
    expect(run(4, n3, w2)).toEqual(expected);
  });

  test('invalid options and states are rejected; a bad state leaves the noise unchanged', () => {
    const w = p64([0], [1]);
    expect(() => new GradientNoise(w, { eta: -1 })).toThrow(InvalidOptionError);
    expect(() => new GradientNoise(w, { gamma: NaN })).toThrow(/gamma/);
    const noise = new GradientNoise(w, { seed: 3 });
    const before = noise.stateDict();
    expect(() => noise.loadStateDict({ ...before, t: 1.5 })).toThrow(StateDictError);
    expect(() => noise.loadStateDict({ ...before, rng: { s: [0, 0, 0, 0], spare: null } })).toThrow(StateDictError);
    expect(noise.stateDict()).toEqual(before);
  });
});
