import { InvalidOptionError, Parameter } from '@opt/tensor';
import { Lion, type LionOptions } from '../src/index';
import { expectJsonResumeIsBitIdentical } from './helpers/resume';

/** Independent float64 Lion step on plain arrays (the paper's Program 1). */
function lionReference(p: number[], m: number[], g: number[], lr: number, b1: number, b2: number, wd: number): void {
  for (let i = 0; i < p.length; i++) {
    const c = b1 * m[i]! + (1 - b1) * g[i]!;
    const s = c > 0 ? 1 : c < 0 ? -1 : 0;
    p[i] = p[i]! * (1 - lr * wd) - lr * s;
    m[i] = b2 * m[i]! + (1 - b2) * g[i]!;
  }
}

/** Gradient of the badly conditioned quadratic ½·Σ aᵢ(xᵢ − cᵢ)², written into p.grad; returns the loss. */
function quadratic(p: Parameter, a: number[], c: number[]): number {
  const g = p.ensureGrad();
  let f = 0;
  for (let i = 0; i < p.size; i++) {
    const d = p.data[i]! - c[i]!;
    g[i] = a[i]! * d;
    f += 0.5 * a[i]! * d * d;
  }
  return f;
}

describe('Lion', () => {
  test('two steps follow c = β1·m + (1−β1)·g, p ← p(1 − lr·wd) − lr·sign(c), m ← β2·m + (1−β2)·g', () => {
    const lr = 0.1;
    const wd = 0.5;
    const grads = [
      [0.5, -1, 0],
      [-0.2, 0.3, 0.1],
    ];
    const p = new Parameter(new Float64Array([1, -2, 0.5]), [3]);
    const opt = new Lion([p], { lr, betas: [0.8, 0.95], weightDecay: wd });
    const ref = [1, -2, 0.5];
    const m = [0, 0, 0];
    for (const g of grads) {
      p.grad = Float64Array.from(g);
      opt.step();
      lionReference(ref, m, g, lr, 0.8, 0.95, wd);
      for (let i = 0; i < 3; i++) expect(p.data[i]).toBeCloseTo(ref[i]!, 14);
      for (let i = 0; i < 3; i++) expect(opt.state.get(p)!.exp_avg[i]).toBeCloseTo(m[i]!, 15);
    }
    // By hand: element 0 has c = +0.1 then c = 0.8·0.025 − 0.04 = −0.02 (momentum flips the sign);
    // element 2 has c = 0 on step 1 (only the decay applies) and c = +0.02 on step 2.
    expect(p.data[0]).toBeCloseTo((1 * 0.95 - 0.1) * 0.95 + 0.1, 14); // 0.9075
    expect(p.data[1]).toBeCloseTo((-2 * 0.95 + 0.1) * 0.95 - 0.1, 14); // -1.81
    expect(p.data[2]).toBeCloseTo(0.5 * 0.95 * 0.95 - 0.1, 14); // 0.35125
  });

  test('the step direction uses β1 while the stored momentum uses β2', () => {
    // m after step 1 = (1 − β2)·g1 = 0.05; step 2 with g2 = −0.1:
    // c = 0.8·0.05 + 0.2·(−0.1) = +0.02 > 0 (moves down) although g2 < 0.
    const p = new Parameter(new Float64Array([0]), [1]);
    const opt = new Lion([p], { lr: 1, betas: [0.8, 0.95] });
    p.grad = new Float64Array([1]);
    opt.step();
    expect(p.data[0]).toBe(-1);
    p.grad = new Float64Array([-0.1]);
    opt.step();
    expect(p.data[0]).toBe(-2);
    expect(opt.state.get(p)!.exp_avg[0]).toBeCloseTo(0.95 * 0.05 + 0.05 * -0.1, 15);
  });

  test('maximize ascends', () => {
    const p = new Parameter(new Float64Array([0, 0]), [2]);
    const opt = new Lion([p], { lr: 0.5, maximize: true });
    p.grad = new Float64Array([2, -3]);
    opt.step();
    expect(Array.from(p.data)).toEqual([0.5, -0.5]);
  });

  test('converges on a badly conditioned quadratic to within the step size', () => {
    const a = [1, 1000];
    const c = [1, -2];
    const p = new Parameter(new Float64Array([-3, 4]), [2]);
    const opt = new Lion([p], { lr: 0.05 });
    const f0 = quadratic(p, a, c);
    for (let t = 0; t < 2000; t++) {
      quadratic(p, a, c);
      opt.step();
      if (t % 500 === 499) opt.paramGroups[0]!.lr *= 0.1;
    }
    const f = quadratic(p, a, c);
    expect(f).toBeLessThan(f0 * 1e-6);
    expect(Math.abs(p.data[0]! - 1)).toBeLessThan(1e-3);
    expect(Math.abs(p.data[1]! + 2)).toBeLessThan(1e-3);
  });

  test('invalid options are rejected with errors naming the option', () => {
    const p = Parameter.zeros([2]);
    expect(() => new Lion([p], { lr: -1 })).toThrow(InvalidOptionError);
    expect(() => new Lion([p], { lr: -1 })).toThrow(/invalid lr/);
    expect(() => new Lion([p], { betas: [0.9, 1] })).toThrow(/betas\[1\]/);
    expect(() => new Lion([p], { betas: [-0.1, 0.99] })).toThrow(/betas\[0\]/);
    expect(() => new Lion([p], { weightDecay: -0.1 })).toThrow(/weightDecay/);
    expect(() => new Lion([p], { maximize: 1 as unknown as boolean })).toThrow(/maximize/);
  });

  test('float32 parameters step with float32 state and match float64 to float32 precision', () => {
    const init = [0.3, -0.7, 1.1, 0];
    const p32 = Parameter.from(init, { dtype: 'float32' });
    const p64 = Parameter.from(init, { dtype: 'float64' });
    const o32 = new Lion([p32], { lr: 0.01, weightDecay: 0.1 });
    const o64 = new Lion([p64], { lr: 0.01, weightDecay: 0.1 });
    for (let t = 0; t < 5; t++) {
      const g = [Math.sin(t + 1), -0.5 + 0.1 * t, 0.25, t % 2 === 0 ? 1 : -1];
      p32.grad = Float32Array.from(g);
      p64.grad = Float64Array.from(g);
      o32.step();
      o64.step();
    }
    expect(o32.state.get(p32)!.exp_avg).toBeInstanceOf(Float32Array);
    for (let i = 0; i < init.length; i++) expect(p32.data[i]).toBeCloseTo(p64.data[i]!, 6);
  });

  test('a state dict survives JSON and both optimizers continue bit-identically for 3 steps', () => {
    const make = (opts: Partial<LionOptions>) => (w: Parameter, b: Parameter) =>
      new Lion([{ params: [w] }, { params: [b], lr: 0.02 }], opts);
    const { resumed } = expectJsonResumeIsBitIdentical(make({ lr: 0.01, weightDecay: 0.1 }), make({}));
    expect(resumed.paramGroups[0]!.lr).toBe(0.01);
  });
});
