import { InvalidOptionError, Parameter } from '@opt/tensor';
import { LARS, type LARSOptions } from '../src/index';
import { expectJsonResumeIsBitIdentical } from './helpers/resume';

interface Ref {
  p: number[];
  b: number[];
}

/** Independent float64 LARS step (the paper's Algorithm 1, plus the zero-norm rule and optional Nesterov). */
function larsReference(
  s: Ref,
  g: number[],
  o: { lr: number; momentum: number; wd: number; eta: number; eps: number; nesterov: boolean; adapt: boolean },
): number {
  const pNorm = Math.hypot(...s.p);
  const gNorm = Math.hypot(...g);
  const local = o.adapt && pNorm > 0 && gNorm > 0 ? (o.eta * pNorm) / (gNorm + o.wd * pNorm + o.eps) : 1;
  for (let i = 0; i < g.length; i++) {
    const u = o.lr * local * (g[i]! + o.wd * s.p[i]!);
    s.b[i] = o.momentum * s.b[i]! + u;
    s.p[i] = s.p[i]! - (o.nesterov ? u + o.momentum * s.b[i]! : s.b[i]!);
  }
  return local;
}

describe('LARS', () => {
  test('two steps: local lr η‖p‖/(‖g‖ + β‖p‖ + eps), momentum on lr·λ·(g + βp)', () => {
    const o = { lr: 0.5, momentum: 0.9, wd: 0.01, eta: 0.02, eps: 1e-9, nesterov: false, adapt: true };
    const p = new Parameter(new Float64Array([3, 4]), [2]); // ‖p‖ = 5
    const opt = new LARS([p], { lr: o.lr, momentum: o.momentum, weightDecay: o.wd, trustCoefficient: o.eta, eps: o.eps });
    // Step 1 by hand: ‖g‖ = 0.5, λ = 0.02·5/(0.5 + 0.05 + 1e-9), b = u = 0.5·λ·(g + 0.01·p).
    p.grad = new Float64Array([0.3, -0.4]);
    opt.step();
    const lambda1 = 0.1 / (0.55 + 1e-9);
    const b1 = [0.5 * lambda1 * (0.3 + 0.03), 0.5 * lambda1 * (-0.4 + 0.04)];
    expect(p.data[0]).toBeCloseTo(3 - b1[0]!, 15);
    expect(p.data[1]).toBeCloseTo(4 - b1[1]!, 15);
    expect(opt.state.get(p)!.momentum_buffer![0]).toBeCloseTo(b1[0]!, 16);
    // Step 2 against the independent reference.
    const ref: Ref = { p: [3, 4], b: [0, 0] };
    larsReference(ref, [0.3, -0.4], o);
    p.grad = new Float64Array([-1, 2]);
    opt.step();
    larsReference(ref, [-1, 2], o);
    for (let i = 0; i < 2; i++) expect(p.data[i]).toBeCloseTo(ref.p[i]!, 14);
  });

  test('nesterov steps by u + μ·b', () => {
    const o = { lr: 1, momentum: 0.8, wd: 0.1, eta: 0.01, eps: 0, nesterov: true, adapt: true };
    const p = new Parameter(new Float64Array([1, -2, 0.5]), [3]);
    const opt = new LARS([p], { lr: 1, momentum: 0.8, weightDecay: 0.1, trustCoefficient: 0.01, nesterov: true });
    const ref: Ref = { p: [1, -2, 0.5], b: [0, 0, 0] };
    for (const g of [
      [0.2, 0.1, -0.3],
      [0.05, -0.4, 0.1],
    ]) {
      p.grad = Float64Array.from(g);
      opt.step();
      larsReference(ref, g, o);
      for (let i = 0; i < 3; i++) expect(p.data[i]).toBeCloseTo(ref.p[i]!, 15);
    }
  });

  test('a zero-norm parameter gets trust ratio 1 (optax convention), so it leaves zero at the global lr', () => {
    const p = new Parameter(new Float64Array([0, 0]), [2]);
    const opt = new LARS([p], { lr: 0.1, momentum: 0.9, weightDecay: 0.5 });
    p.grad = new Float64Array([1, -2]);
    opt.step();
    expect(Array.from(p.data)).toEqual([-0.1, 0.2]);
  });

  test('a zero gradient gets trust ratio 1: only weight decay, at the global lr', () => {
    const p = new Parameter(new Float64Array([2, -4]), [2]);
    const opt = new LARS([p], { lr: 0.1, momentum: 0, weightDecay: 0.5 });
    p.grad = new Float64Array([0, 0]);
    opt.step();
    expect(p.data[0]).toBeCloseTo(2 - 0.1 * 0.5 * 2, 15);
    expect(p.data[1]).toBeCloseTo(-4 + 0.1 * 0.5 * 4, 15);
  });

  test('excludeFromAdaptation groups take plain momentum SGD steps with the lr inside the buffer', () => {
    const w = new Parameter(new Float64Array([3, 4]), [2]);
    const bias = new Parameter(new Float64Array([3, 4]), [2]);
    const opt = new LARS([{ params: [w] }, { params: [bias], excludeFromAdaptation: true }], { lr: 0.1, momentum: 0.5 });
    w.grad = new Float64Array([1, 0]);
    bias.grad = new Float64Array([1, 0]);
    opt.step();
    expect(bias.data[0]).toBeCloseTo(3 - 0.1, 15);
    expect(w.data[0]).toBeCloseTo(3 - 0.1 * (1e-3 * 5) / 1, 15);
    opt.step();
    expect(bias.data[0]).toBeCloseTo(3 - 0.1 - (0.5 * 0.1 + 0.1), 15);
  });

  test('momentum 0 keeps no buffer; maximize ascends', () => {
    const p = new Parameter(new Float64Array([3, 4]), [2]);
    const opt = new LARS([p], { lr: 1, momentum: 0, trustCoefficient: 0.1, maximize: true });
    p.grad = new Float64Array([0, 1]);
    opt.step();
    expect(opt.state.get(p)!.momentum_buffer).toBeNull();
    expect(p.data[1]).toBeCloseTo(4 + 0.1 * 5, 15);
  });

  test('converges on a badly conditioned quadratic (the step shrinks with ‖p‖ toward the minimum at 0)', () => {
    const a = [1, 20, 400];
    const p = new Parameter(new Float64Array([2, -1, 1]), [3]);
    const opt = new LARS([p], { lr: 2, momentum: 0.9, trustCoefficient: 0.01 });
    const loss = (): number => {
      const g = p.ensureGrad();
      let f = 0;
      for (let i = 0; i < 3; i++) {
        g[i] = a[i]! * p.data[i]!;
        f += 0.5 * a[i]! * p.data[i]! * p.data[i]!;
      }
      return f;
    };
    const f0 = loss();
    for (let t = 0; t < 3000; t++) opt.step(loss);
    expect(loss()).toBeLessThan(f0 * 1e-8);
    for (let i = 0; i < 3; i++) expect(Math.abs(p.data[i]!)).toBeLessThan(1e-4);
  });

  test('invalid options are rejected with errors naming the option', () => {
    const p = Parameter.zeros([2]);
    expect(() => new LARS([p], { lr: -1 })).toThrow(InvalidOptionError);
    expect(() => new LARS([p], { lr: -1 })).toThrow(/invalid lr/);
    expect(() => new LARS([p], { momentum: -0.5 })).toThrow(/momentum/);
    expect(() => new LARS([p], { weightDecay: -1 })).toThrow(/weightDecay/);
    expect(() => new LARS([p], { trustCoefficient: 0 })).toThrow(/trustCoefficient/);
    expect(() => new LARS([p], { eps: -1e-9 })).toThrow(/invalid eps/);
    expect(() => new LARS([p], { nesterov: true, momentum: 0 })).toThrow(/nesterov/);
    expect(() => new LARS([p], { excludeFromAdaptation: 'yes' as unknown as boolean })).toThrow(/excludeFromAdaptation/);
  });

  test('float32 parameters step with float32 state and match float64 to float32 precision', () => {
    const init = [0.3, -0.7, 1.1, 0.2];
    const p32 = Parameter.from(init, { dtype: 'float32', shape: [2, 2] });
    const p64 = Parameter.from(init, { dtype: 'float64', shape: [2, 2] });
    const o32 = new LARS([p32], { lr: 5, weightDecay: 0.01, nesterov: true });
    const o64 = new LARS([p64], { lr: 5, weightDecay: 0.01, nesterov: true });
    for (let t = 0; t < 5; t++) {
      const g = [Math.sin(t + 1), -0.5 + 0.1 * t, 0.25, t % 2 === 0 ? 1 : -1];
      p32.grad = Float32Array.from(g);
      p64.grad = Float64Array.from(g);
      o32.step();
      o64.step();
    }
    expect(o32.state.get(p32)!.momentum_buffer).toBeInstanceOf(Float32Array);
    for (let i = 0; i < init.length; i++) expect(p32.data[i]).toBeCloseTo(p64.data[i]!, 6);
  });

  test('a state dict survives JSON and both optimizers continue bit-identically for 3 steps', () => {
    const make = (opts: Partial<LARSOptions>) => (w: Parameter, b: Parameter) =>
      new LARS([{ params: [w] }, { params: [b], excludeFromAdaptation: true, weightDecay: 0 }], opts);
    const { resumed } = expectJsonResumeIsBitIdentical(make({ lr: 3, weightDecay: 0.01 }), make({}));
    expect(resumed.paramGroups[1]!.excludeFromAdaptation).toBe(true);
  });
});
