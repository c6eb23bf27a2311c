import { InvalidOptionError, Parameter } from '@opt/tensor';
import { AdaBelief, type AdaBeliefOptions } from '../src/index';
import { expectJsonResumeIsBitIdentical } from './helpers/resume';

interface Ref {
  p: number[];
  m: number[];
  s: number[];
  sMax: number[];
  t: number;
}

interface RefOptions {
  lr: number;
  b1: number;
  b2: number;
  eps: number;
  wd: number;
  decouple: boolean;
  amsgrad: boolean;
  rectify: boolean;
  sgd: boolean;
}

/** Independent float64 AdaBelief step, from the paper's Algorithm 2 and the reference package's rectification. */
function adabeliefReference(st: Ref, grad: number[], o: RefOptions): void {
  st.t += 1;
  const t = st.t;
  const bc1 = 1 - o.b1 ** t;
  const bc2 = 1 - o.b2 ** t;
  const rhoInf = 2 / (1 - o.b2) - 1;
  const rho = rhoInf - (2 * t * o.b2 ** t) / bc2;
  for (let i = 0; i < grad.length; i++) {
    if (o.decouple) st.p[i] = st.p[i]! * (1 - o.lr * o.wd);
    const g = grad[i]! + (o.decouple ? 0 : o.wd * st.p[i]!);
    st.m[i] = o.b1 * st.m[i]! + (1 - o.b1) * g;
    st.s[i] = o.b2 * st.s[i]! + (1 - o.b2) * (g - st.m[i]!) ** 2 + o.eps;
    st.sMax[i] = Math.max(st.sMax[i]!, st.s[i]!);
    if (!o.rectify) {
      const sHat = (o.amsgrad ? st.sMax[i]! : st.s[i]!) / bc2;
      st.p[i] = st.p[i]! - (o.lr * st.m[i]!) / bc1 / (Math.sqrt(sHat) + o.eps);
    } else if (rho >= 5) {
      const r = Math.sqrt((bc2 * (rho - 4) * (rho - 2) * rhoInf) / ((rhoInf - 4) * rho * (rhoInf - 2)));
      st.p[i] = st.p[i]! - (o.lr * r * st.m[i]!) / bc1 / (Math.sqrt(st.s[i]!) + o.eps);
    } else if (o.sgd) {
      st.p[i] = st.p[i]! - (o.lr * st.m[i]!) / bc1;
    }
  }
}

const fresh = (p: number[]): Ref => ({ p: [...p], m: p.map(() => 0), s: p.map(() => 0), sMax: p.map(() => 0), t: 0 });
const base: RefOptions = { lr: 0.1, b1: 0.9, b2: 0.999, eps: 1e-16, wd: 0, decouple: true, amsgrad: false, rectify: false, sgd: true };
const toOptions = (o: RefOptions): Partial<AdaBeliefOptions> => ({
  lr: o.lr,
  betas: [o.b1, o.b2],
  eps: o.eps,
  weightDecay: o.wd,
  weightDecouple: o.decouple,
  amsgrad: o.amsgrad,
  rectify: o.rectify,
  degeneratedToSgd: o.sgd,
});

function run(o: RefOptions, init: number[], grads: number[][], digits = 13): AdaBelief {
  const p = new Parameter(Float64Array.from(init), [init.length]);
  const opt = new AdaBelief([p], toOptions(o));
  const ref = fresh(init);
  for (const g of grads) {
    p.grad = Float64Array.from(g);
    opt.step();
    adabeliefReference(ref, g, o);
    for (let i = 0; i < init.length; i++) expect(p.data[i]).toBeCloseTo(ref.p[i]!, digits);
  }
  const s = opt.state.get(p)!;
  for (let i = 0; i < init.length; i++) expect(s.exp_avg_var[i]).toBeCloseTo(ref.s[i]!, 15);
  return opt;
}

const grads2 = [
  [0.3, -0.2, 1],
  [-0.1, 0.4, 1],
];

describe('AdaBelief', () => {
  test('the first step: s = (1−β2)(g − m)² + eps = (1−β2)(β1 g)² + eps, so the first step moves each coordinate by lr/β1', () => {
    const p = new Parameter(new Float64Array([1]), [1]);
    const opt = new AdaBelief([p], { lr: 0.1, eps: 1e-16 });
    p.grad = new Float64Array([0.5]);
    opt.step();
    const m = 0.05;
    const s = 0.001 * (0.5 - m) ** 2 + 1e-16;
    expect(opt.state.get(p)!.exp_avg_var[0]).toBeCloseTo(s, 18);
    const expected = 1 - ((0.1 / 0.1) * m) / (Math.sqrt(s / 0.001) + 1e-16);
    expect(p.data[0]).toBeCloseTo(expected, 14);
    expect(p.data[0]).toBeCloseTo(1 - 0.1 / 0.9, 12); // m̂/√ŝ = 0.5/0.45 = 1/β1
  });

  test('two steps with decoupled weight decay follow the paper', () => {
    run({ ...base, wd: 0.5 }, [0.5, -1, 2], grads2);
  });

  test('weightDecouple false adds weightDecay·p to the gradient instead', () => {
    run({ ...base, wd: 0.5, decouple: false }, [0.5, -1, 2], grads2);
  });

  test('amsgrad normalises by the running maximum of the belief', () => {
    const opt = run({ ...base, amsgrad: true, b2: 0.5 }, [0.5, -1, 2], [
      [3, -2, 1],
      [0.1, -2, 1],
      [0.1, -2.1, 1],
    ]);
    const s = [...opt.state.values()][0]!;
    expect((s.max_exp_avg_var as Float64Array)[0]).toBeGreaterThan(s.exp_avg_var[0]!);
  });

  test('rectify: SGD-like steps while ρ_t < 5, then the rectified adaptive step (matches the reference for 8 steps)', () => {
    const grads = Array.from({ length: 8 }, (_, k) => [Math.sin(k + 1), 0.5 - 0.2 * k, 1]);
    run({ ...base, rectify: true, b2: 0.9 }, [0.5, -1, 2], grads);
    // β2 = 0.9: ρ∞ = 19, ρ_1 = 1 < 5 so the first step is p −= lr·m/(1 − β1) = lr·g.
    const p = new Parameter(new Float64Array([1, 1]), [2]);
    const opt = new AdaBelief([p], { lr: 0.1, betas: [0.9, 0.9], rectify: true });
    p.grad = new Float64Array([0.5, -2]);
    opt.step();
    expect(p.data[0]).toBeCloseTo(1 - 0.05, 15);
    expect(p.data[1]).toBeCloseTo(1 + 0.2, 15);
  });

  test('rectify without degeneratedToSgd takes no step while ρ_t < 5 (weight decay still applies)', () => {
    const p = new Parameter(new Float64Array([1, -1]), [2]);
    const opt = new AdaBelief([p], { lr: 0.1, weightDecay: 0.5, rectify: true, degeneratedToSgd: false });
    p.grad = new Float64Array([0.5, -2]);
    opt.step();
    expect(Array.from(p.data)).toEqual([0.95, -0.95]);
    run({ ...base, rectify: true, sgd: false, b2: 0.9, amsgrad: true }, [0.5, -1, 2], Array.from({ length: 8 }, (_, k) => [1 / (k + 1), -0.3, k]));
  });

  test('maximize ascends', () => {
    const p = new Parameter(new Float64Array([0]), [1]);
    const opt = new AdaBelief([p], { lr: 0.1, maximize: true });
    p.grad = new Float64Array([1]);
    opt.step();
    expect(p.data[0]).toBeCloseTo(0.1 / 0.9, 12);
  });

  test('converges on the Rosenbrock function', () => {
    const p = new Parameter(new Float64Array([-1.5, 2]), [2]);
    const opt = new AdaBelief([p], { lr: 0.02, betas: [0.9, 0.999], eps: 1e-12 });
    const loss = (): number => {
      const [x, y] = [p.data[0]!, p.data[1]!];
      const g = p.ensureGrad();
      g[0] = -2 * (1 - x) - 400 * x * (y - x * x);
      g[1] = 200 * (y - x * x);
      return (1 - x) ** 2 + 100 * (y - x * x) ** 2;
    };
    const f0 = loss();
    for (let t = 0; t < 5000; t++) {
      opt.step(loss);
      if (t === 3000) opt.paramGroups[0]!.lr = 0.002;
    }
    expect(loss()).toBeLessThan(f0 * 1e-8);
    expect(Math.abs(p.data[0]! - 1)).toBeLessThan(1e-3);
    expect(Math.abs(p.data[1]! - 1)).toBeLessThan(2e-3);
  });

  test('invalid options are rejected with errors naming the option', () => {
    const p = Parameter.zeros([2]);
    expect(() => new AdaBelief([p], { lr: -1 })).toThrow(InvalidOptionError);
    expect(() => new AdaBelief([p], { lr: -1 })).toThrow(/invalid lr/);
    expect(() => new AdaBelief([p], { betas: [0.9, 1.5] })).toThrow(/betas\[1\]/);
    expect(() => new AdaBelief([p], { eps: 0 })).toThrow(/invalid eps/);
    expect(() => new AdaBelief([p], { weightDecay: -1 })).toThrow(/weightDecay/);
    expect(() => new AdaBelief([p], { rectify: 1 as unknown as boolean })).toThrow(/rectify/);
    expect(() => new AdaBelief([p], { weightDecouple: null as unknown as boolean })).toThrow(/weightDecouple/);
    expect(() => new AdaBelief([p], { degeneratedToSgd: 'y' as unknown as boolean })).toThrow(/degeneratedToSgd/);
    expect(() => new AdaBelief([p], { amsgrad: 0 as unknown as boolean })).toThrow(/amsgrad/);
  });

  test('float32 parameters step with float32 state and match float64 to float32 precision', () => {
    const init = [0.3, -0.7, 1.1, 0.2];
    const p32 = Parameter.from(init, { dtype: 'float32' });
    const p64 = Parameter.from(init, { dtype: 'float64' });
    const opts: Partial<AdaBeliefOptions> = { lr: 0.01, weightDecay: 0.1, amsgrad: true, eps: 1e-8 };
    const o32 = new AdaBelief([p32], opts);
    const o64 = new AdaBelief([p64], opts);
    for (let t = 0; t < 5; t++) {
      const g = [Math.sin(t + 1), -0.5 + 0.1 * t, 0.25, t % 2 === 0 ? 1 : -1];
      p32.grad = Float32Array.from(g);
      p64.grad = Float64Array.from(g);
      o32.step();
      o64.step();
    }
    const s = o32.state.get(p32)!;
    expect(s.exp_avg_var).toBeInstanceOf(Float32Array);
    expect(s.max_exp_avg_var).toBeInstanceOf(Float32Array);
    for (let i = 0; i < init.length; i++) expect(p32.data[i]).toBeCloseTo(p64.data[i]!, 6);
  });

  test('a state dict survives JSON and both optimizers continue bit-identically for 3 steps', () => {
    const make = (opts: Partial<AdaBeliefOptions>) => (w: Parameter, b: Parameter) =>
      new AdaBelief([{ params: [w] }, { params: [b], rectify: true }], opts);
    const { saved } = expectJsonResumeIsBitIdentical(make({ lr: 0.01, weightDecay: 0.1, amsgrad: true }), make({ amsgrad: true }));
    expect(Object.keys(saved.state['0']!).sort()).toEqual(['exp_avg', 'exp_avg_var', 'max_exp_avg_var', 'step']);
  });
});
