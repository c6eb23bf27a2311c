import { InvalidOptionError, Parameter } from '@opt/tensor';
import { LAMB, type LAMBOptions } from '../src/index';
import { expectJsonResumeIsBitIdentical } from './helpers/resume';

interface Ref {
  p: number[];
  m: number[];
  v: number[];
  t: number;
}

/** Independent float64 LAMB step (the paper's Algorithm 2 with φ(z) = min(z, clamp)); returns the trust ratio. */
function lambReference(s: Ref, g: number[], lr: number, b1: number, b2: number, eps: number, wd: number, clamp: number): number {
  s.t += 1;
  const u: number[] = [];
  for (let i = 0; i < g.length; i++) {
    s.m[i] = b1 * s.m[i]! + (1 - b1) * g[i]!;
    s.v[i] = b2 * s.v[i]! + (1 - b2) * g[i]! * g[i]!;
    const mHat = s.m[i]! / (1 - b1 ** s.t);
    const vHat = s.v[i]! / (1 - b2 ** s.t);
    u.push(mHat / (Math.sqrt(vHat) + eps) + wd * s.p[i]!);
  }
  const pNorm = Math.hypot(...s.p);
  const uNorm = Math.hypot(...u);
  const r = pNorm === 0 || uNorm === 0 ? 1 : Math.min(pNorm, clamp) / uNorm;
  for (let i = 0; i < g.length; i++) s.p[i] = s.p[i]! - lr * r * u[i]!;
  return r;
}

function norm(x: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i]! * x[i]!;
  return Math.sqrt(s);
}

describe('LAMB', () => {
  test('two steps follow Adam direction + weight decay scaled by the trust ratio ‖p‖/‖u‖', () => {
    const [lr, b1, b2, eps, wd] = [0.1, 0.9, 0.999, 1e-6, 0.01];
    const p = new Parameter(new Float64Array([0.6, -0.8, 0.3]), [3]);
    const opt = new LAMB([p], { lr, betas: [b1, b2], eps, weightDecay: wd });
    const ref: Ref = { p: [0.6, -0.8, 0.3], m: [0, 0, 0], v: [0, 0, 0], t: 0 };
    const grads = [
      [0.1, 0.2, -0.05],
      [-0.3, 0.05, 0.4],
    ];
    for (const g of grads) {
      p.grad = Float64Array.from(g);
      opt.step();
      lambReference(ref, g, lr, b1, b2, eps, wd, 10);
      for (let i = 0; i < 3; i++) expect(p.data[i]).toBeCloseTo(ref.p[i]!, 14);
    }
    const s = opt.state.get(p)!;
    expect(s.step).toBe(2);
    for (let i = 0; i < 3; i++) expect(s.exp_avg_sq[i]).toBeCloseTo(ref.v[i]!, 16);
    // First step by hand: the bias corrections cancel, the direction is g/(|g| + eps) ≈ sign(g),
    // so u₀ = g/(|g| + eps) + 0.01·p₀ and the first move is lr·‖p₀‖·u₀/‖u₀‖.
    const u0 = [0.1 / (0.1 + eps) + 0.006, 0.2 / (0.2 + eps) - 0.008, -0.05 / (0.05 + eps) + 0.003];
    const r0 = Math.hypot(0.6, -0.8, 0.3) / Math.hypot(...u0);
    const first = new Parameter(new Float64Array([0.6, -0.8, 0.3]), [3]);
    const opt1 = new LAMB([first], { lr, betas: [b1, b2], eps, weightDecay: wd });
    first.grad = Float64Array.from(grads[0]!);
    opt1.step();
    for (let i = 0; i < 3; i++) expect(first.data[i]).toBeCloseTo([0.6, -0.8, 0.3][i]! - lr * r0 * u0[i]!, 14);
  });

  test('every step moves a layer by exactly lr·min(‖p‖, clampValue) in norm', () => {
    for (const clampValue of [10, Infinity]) {
      const p = new Parameter(new Float64Array([30, 40, 0, 0]), [2, 2]); // ‖p‖ = 50
      const opt = new LAMB([p], { lr: 0.01, weightDecay: 0.1, clampValue });
      p.grad = new Float64Array([1, -2, 3, 0.5]);
      const before = Float64Array.from(p.data);
      opt.step();
      const delta = before.map((x, i) => x - p.data[i]!);
      expect(norm(delta)).toBeCloseTo(0.01 * Math.min(50, clampValue), 12);
    }
  });

  test('the trust ratio is 1 for a zero parameter (it would never move otherwise)', () => {
    const p = new Parameter(new Float64Array([0, 0]), [2]);
    const opt = new LAMB([p], { lr: 0.1, eps: 1e-6 });
    p.grad = new Float64Array([2, -0.5]);
    opt.step();
    expect(p.data[0]).toBeCloseTo(-0.1 * (2 / (2 + 1e-6)), 15);
    expect(p.data[1]).toBeCloseTo(0.1 * (0.5 / (0.5 + 1e-6)), 15);
  });

  test('a zero gradient without weight decay leaves the parameter unchanged (zero direction, ratio 1)', () => {
    const p = new Parameter(new Float64Array([1, 2]), [2]);
    const opt = new LAMB([p]);
    p.grad = new Float64Array([0, 0]);
    opt.step();
    expect(Array.from(p.data)).toEqual([1, 2]);
  });

  test('maximize ascends', () => {
    const p = new Parameter(new Float64Array([3, 4]), [2]);
    const opt = new LAMB([p], { lr: 0.1, maximize: true });
    p.grad = new Float64Array([1, 0]);
    opt.step();
    expect(p.data[0]).toBeGreaterThan(3);
    expect(p.data[1]).toBe(4);
  });

  test('converges on a badly conditioned quadratic with a decaying learning rate', () => {
    const a = [1, 30, 1000];
    const c = [1, -2, 0.5];
    const p = new Parameter(new Float64Array([-1, 1, 2]), [3]);
    const opt = new LAMB([p], { lr: 0.05, betas: [0.9, 0.99] });
    const loss = (): number => {
      const g = p.ensureGrad();
      let f = 0;
      for (let i = 0; i < 3; i++) {
        const d = p.data[i]! - c[i]!;
        g[i] = a[i]! * d;
        f += 0.5 * a[i]! * d * d;
      }
      return f;
    };
    const f0 = loss();
    for (let t = 0; t < 3000; t++) {
      opt.step(loss);
      opt.paramGroups[0]!.lr *= 0.998;
    }
    expect(loss()).toBeLessThan(f0 * 1e-6);
    for (let i = 0; i < 3; i++) expect(Math.abs(p.data[i]! - c[i]!)).toBeLessThan(1e-3);
  });

  test('invalid options are rejected with errors naming the option', () => {
    const p = Parameter.zeros([2]);
    expect(() => new LAMB([p], { lr: -1 })).toThrow(InvalidOptionError);
    expect(() => new LAMB([p], { lr: -1 })).toThrow(/invalid lr/);
    expect(() => new LAMB([p], { betas: [1, 0.9] })).toThrow(/betas\[0\]/);
    expect(() => new LAMB([p], { eps: 0 })).toThrow(/invalid eps/);
    expect(() => new LAMB([p], { weightDecay: -1 })).toThrow(/weightDecay/);
    expect(() => new LAMB([p], { clampValue: 0 })).toThrow(/clampValue/);
    expect(() => new LAMB([p], { clampValue: NaN })).toThrow(/clampValue/);
    expect(() => new LAMB([p], { clampValue: Infinity })).not.toThrow();
  });

  test('float32 parameters step with float32 state and match float64 to float32 precision', () => {
    const init = [0.3, -0.7, 1.1, 0.2];
    const p32 = Parameter.from(init, { dtype: 'float32', shape: [2, 2] });
    const p64 = Parameter.from(init, { dtype: 'float64', shape: [2, 2] });
    const o32 = new LAMB([p32], { lr: 0.01, weightDecay: 0.1 });
    const o64 = new LAMB([p64], { lr: 0.01, weightDecay: 0.1 });
    for (let t = 0; t < 5; t++) {
      const g = [Math.sin(t + 1), -0.5 + 0.1 * t, 0.25, t % 2 === 0 ? 1 : -1];
      p32.grad = Float32Array.from(g);
      p64.grad = Float64Array.from(g);
      o32.step();
      o64.step();
    }
    const s = o32.state.get(p32)!;
    expect(s.exp_avg).toBeInstanceOf(Float32Array);
    expect(s.exp_avg_sq).toBeInstanceOf(Float32Array);
    for (let i = 0; i < init.length; i++) expect(p32.data[i]).toBeCloseTo(p64.data[i]!, 6);
  });

  test('a state dict survives JSON (moments only, no scratch) and both optimizers continue bit-identically for 3 steps', () => {
    const make = (opts: Partial<LAMBOptions>) => (w: Parameter, b: Parameter) =>
      new LAMB([{ params: [w] }, { params: [b], weightDecay: 0 }], opts);
    const { saved } = expectJsonResumeIsBitIdentical(make({ lr: 0.01, weightDecay: 0.1 }), make({}));
    expect(Object.keys(saved.state['0']!).sort()).toEqual(['exp_avg', 'exp_avg_sq', 'step']);
  });
});
