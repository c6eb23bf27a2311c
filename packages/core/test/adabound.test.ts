import { InvalidOptionError, Parameter, StateDictError } from '@opt/tensor';
import { AMSBound, AdaBound, type AdaBoundOptions } from '../src/index';
import { expectJsonResumeIsBitIdentical } from './helpers/resume';

interface Ref {
  p: number[];
  m: number[];
  v: number[];
  vMax: number[];
  t: number;
}

/** Independent float64 AdaBound step, from the reference code's formulas. */
function adaboundReference(
  s: Ref,
  g: number[],
  o: { lr: number; baseLr: number; b1: number; b2: number; finalLr: number; gamma: number; eps: number; wd: number; ams: boolean },
): void {
  s.t += 1;
  const f = (o.finalLr * o.lr) / o.baseLr;
  const lower = f * (1 - 1 / (o.gamma * s.t + 1));
  const upper = f * (1 + 1 / (o.gamma * s.t));
  const stepSize = (o.lr * Math.sqrt(1 - o.b2 ** s.t)) / (1 - o.b1 ** s.t);
  for (let i = 0; i < g.length; i++) {
    const gi = g[i]! + o.wd * s.p[i]!;
    s.m[i] = o.b1 * s.m[i]! + (1 - o.b1) * gi;
    s.v[i] = o.b2 * s.v[i]! + (1 - o.b2) * gi * gi;
    s.vMax[i] = Math.max(s.vMax[i]!, s.v[i]!);
    const eta = Math.min(Math.max(stepSize / (Math.sqrt(o.ams ? s.vMax[i]! : s.v[i]!) + o.eps), lower), upper);
    s.p[i] = s.p[i]! - eta * s.m[i]!;
  }
}

const fresh = (p: number[]): Ref => ({ p: [...p], m: p.map(() => 0), v: p.map(() => 0), vMax: p.map(() => 0), t: 0 });

describe('AdaBound', () => {
  test('the first step clips the per-element rate into [f(1 − 1/(γ+1)), f(1 + 1/γ)]', () => {
    // lr 0.1, γ 0.5: lower = 0.1·(1 − 1/1.5) = 1/30, upper = 0.1·(1 + 2) = 0.3.
    // Unclipped rate = lr·√(1−β2)/(1−β1) / (√((1−β2)g²) + eps) ≈ 1/|g|: g = 0.5 → 2 (clipped to 0.3),
    // g = 4 → 0.25 (inside), g = 50 → 0.02 (raised to 1/30). Then p −= rate·m with m = 0.1·g.
    const p = new Parameter(new Float64Array([1, 1, 1]), [3]);
    const opt = new AdaBound([p], { lr: 0.1, finalLr: 0.1, gamma: 0.5, eps: 0 });
    p.grad = new Float64Array([0.5, 4, 50]);
    opt.step();
    expect(p.data[0]).toBeCloseTo(1 - 0.3 * 0.05, 14);
    expect(p.data[1]).toBeCloseTo(1 - 0.25 * 0.4, 14);
    expect(p.data[2]).toBeCloseTo(1 - (1 / 30) * 5, 14);
  });

  test('two steps with weight decay match the reference formulas', () => {
    const o = { lr: 0.05, baseLr: 0.05, b1: 0.9, b2: 0.99, finalLr: 0.2, gamma: 0.1, eps: 1e-8, wd: 0.1, ams: false };
    const p = new Parameter(new Float64Array([0.5, -1, 2]), [3]);
    const opt = new AdaBound([p], { lr: o.lr, betas: [o.b1, o.b2], finalLr: o.finalLr, gamma: o.gamma, eps: o.eps, weightDecay: o.wd });
    const ref = fresh([0.5, -1, 2]);
    for (const g of [
      [0.3, 0.01, -2],
      [-0.1, 0.5, 1],
    ]) {
      p.grad = Float64Array.from(g);
      opt.step();
      adaboundReference(ref, g, o);
      for (let i = 0; i < 3; i++) expect(p.data[i]).toBeCloseTo(ref.p[i]!, 14);
    }
    const s = opt.state.get(p)!;
    expect(s.step).toBe(2);
    expect(Object.keys(s).sort()).toEqual(['exp_avg', 'exp_avg_sq', 'step']);
  });

  test('changing lr scales the bounds by lr / initial lr, as the reference does for schedules', () => {
    const o = { lr: 0.1, baseLr: 0.1, b1: 0.9, b2: 0.999, finalLr: 0.1, gamma: 0.5, eps: 0, wd: 0, ams: false };
    const p = new Parameter(new Float64Array([1, 1, 1]), [3]);
    const opt = new AdaBound([p], { lr: 0.1, finalLr: 0.1, gamma: 0.5, eps: 0 });
    const ref = fresh([1, 1, 1]);
    p.grad = new Float64Array([0.5, 4, 50]);
    opt.step();
    adaboundReference(ref, [0.5, 4, 50], o);
    opt.paramGroups[0]!.lr = 0.025;
    p.grad = new Float64Array([0.5, 4, 50]);
    opt.step();
    adaboundReference(ref, [0.5, 4, 50], { ...o, lr: 0.025 });
    for (let i = 0; i < 3; i++) expect(p.data[i]).toBeCloseTo(ref.p[i]!, 14);
    // The same step without the rescaled bounds would differ.
    const unscaled = fresh([1, 1, 1]);
    adaboundReference(unscaled, [0.5, 4, 50], o);
    adaboundReference(unscaled, [0.5, 4, 50], { ...o, lr: 0.025, baseLr: 0.025 });
    expect(Math.abs(unscaled.p[2]! - p.data[2]!)).toBeGreaterThan(1e-3);
  });

  test('AMSBound keeps the running maximum of v, labels its state dicts "AMSBound"', () => {
    const o = { lr: 0.01, baseLr: 0.01, b1: 0.9, b2: 0.9, finalLr: 0.1, gamma: 1e-3, eps: 1e-8, wd: 0, ams: true };
    const p = new Parameter(new Float64Array([1, -1]), [2]);
    const opt = new AMSBound([p], { betas: [0.9, 0.9], lr: 0.01 });
    expect(opt).toBeInstanceOf(AdaBound);
    expect(opt.paramGroups[0]!.amsbound).toBe(true);
    const ref = fresh([1, -1]);
    for (const g of [
      [3, -1],
      [0.01, 0.2],
      [0.02, -0.1],
    ]) {
      p.grad = Float64Array.from(g);
      opt.step();
      adaboundReference(ref, g, o);
      for (let i = 0; i < 2; i++) expect(p.data[i]).toBeCloseTo(ref.p[i]!, 14);
    }
    const s = opt.state.get(p)!;
    expect((s.max_exp_avg_sq as Float64Array)[0]).toBeCloseTo(0.1 * 9, 15);
    expect(s.exp_avg_sq[0]).toBeLessThan(0.1 * 9);
    expect(opt.stateDict().optimizer).toBe('AMSBound');
    expect(new AdaBound([Parameter.zeros([1])]).stateDict().optimizer).toBe('AdaBound');
  });

  test('converges on a badly conditioned quadratic, ending as SGD with lr finalLr', () => {
    const a = [1, 15];
    const c = [1, -2];
    const p = new Parameter(new Float64Array([-3, 4]), [2]);
    const opt = new AdaBound([p], { lr: 1e-2, finalLr: 0.1, gamma: 1e-2 });
    const loss = (): number => {
      const g = p.ensureGrad();
      let f = 0;
      for (let i = 0; i < 2; i++) {
        const d = p.data[i]! - c[i]!;
        g[i] = a[i]! * d;
        f += 0.5 * a[i]! * d * d;
      }
      return f;
    };
    const f0 = loss();
    for (let t = 0; t < 3000; t++) opt.step(loss);
    expect(loss()).toBeLessThan(f0 * 1e-10);
  });

  test('invalid options are rejected with errors naming the option', () => {
    const p = Parameter.zeros([2]);
    expect(() => new AdaBound([p], { lr: -1 })).toThrow(InvalidOptionError);
    expect(() => new AdaBound([p], { lr: -1 })).toThrow(/invalid lr/);
    expect(() => new AdaBound([p], { lr: 0 })).toThrow(/invalid lr: 0/);
    expect(() => new AdaBound([p], { betas: [0.9, 1] })).toThrow(/betas\[1\]/);
    expect(() => new AdaBound([p], { finalLr: -0.1 })).toThrow(/finalLr/);
    expect(() => new AdaBound([p], { gamma: 1 })).toThrow(/gamma/);
    expect(() => new AdaBound([p], { eps: -1e-8 })).toThrow(/invalid eps/);
    expect(() => new AdaBound([p], { weightDecay: -1 })).toThrow(/weightDecay/);
    expect(() => new AMSBound([p], { amsbound: 'no' as unknown as boolean })).toThrow(/AMSBound: invalid amsbound/);
    const opt = new AdaBound([p]);
    expect(() => opt.addParamGroup({ params: [Parameter.zeros([1])], lr: 0 })).toThrow(/invalid lr/);
    expect(opt.paramGroups).toHaveLength(1);
  });

  test('float32 parameters step with float32 state and match float64 to float32 precision', () => {
    const init = [0.3, -0.7, 1.1, 0.2];
    const p32 = Parameter.from(init, { dtype: 'float32' });
    const p64 = Parameter.from(init, { dtype: 'float64' });
    const o32 = new AMSBound([p32], { lr: 0.01, gamma: 0.1, weightDecay: 0.1 });
    const o64 = new AMSBound([p64], { lr: 0.01, gamma: 0.1, weightDecay: 0.1 });
    for (let t = 0; t < 5; t++) {
      const g = [Math.sin(t + 1), -0.5 + 0.1 * t, 0.25, t % 2 === 0 ? 1 : -1];
      p32.grad = Float32Array.from(g);
      p64.grad = Float64Array.from(g);
      o32.step();
      o64.step();
    }
    const s = o32.state.get(p32)!;
    expect(s.exp_avg).toBeInstanceOf(Float32Array);
    expect(s.max_exp_avg_sq).toBeInstanceOf(Float32Array);
    for (let i = 0; i < init.length; i++) expect(p32.data[i]).toBeCloseTo(p64.data[i]!, 6);
  });

  test.each([
    ['AdaBound', (g: ConstructorParameters<typeof AdaBound>[0], o: Partial<AdaBoundOptions>) => new AdaBound(g, o)],
    ['AMSBound', (g: ConstructorParameters<typeof AdaBound>[0], o: Partial<AdaBoundOptions>) => new AMSBound(g, o)],
  ])('a %s state dict survives JSON (base lrs included) and both continue bit-identically for 3 steps', (_name, ctor) => {
    const make = (opts: Partial<AdaBoundOptions>) => (w: Parameter, b: Parameter) =>
      ctor([{ params: [w] }, { params: [b], lr: opts.lr === undefined ? undefined : opts.lr * 2 }], opts);
    // A fresh optimizer built with other learning rates: the saved base lrs must win.
    const { saved } = expectJsonResumeIsBitIdentical(make({ lr: 0.01, gamma: 0.1, weightDecay: 0.01 }), make({ lr: 0.3 }), (opt) => {
      for (const g of opt.paramGroups) g.lr *= 0.5; // a schedule: the bounds follow lr / base lr
    });
    expect(saved.extra).toEqual({ base_lrs: [0.01, 0.02] });
  });

  test('a state dict with malformed base lrs is refused and leaves the optimizer unchanged', () => {
    const p = new Parameter(new Float64Array([1, 2]), [2], 'p');
    const opt = new AdaBound([p], { lr: 0.01 });
    p.grad = new Float64Array([1, 1]);
    opt.step();
    const saved = JSON.parse(JSON.stringify(opt.stateDict()));
    saved.extra = { base_lrs: [0] };
    const other = new AdaBound([new Parameter(new Float64Array([1, 2]), [2], 'p')], { lr: 0.5 });
    expect(() => other.loadStateDict(saved)).toThrow(StateDictError);
    expect(other.paramGroups[0]!.lr).toBe(0.5);
    expect(other.state.size).toBe(0);
  });
});
