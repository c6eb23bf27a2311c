import { InvalidOptionError, Parameter } from '@opt/tensor';
import { RAdam, radamRho } from '../src/index';
import { describeFixtureReplay } from './helpers/fixtures';

describeFixtureReplay('optim/radam.json', (groups, options) => new RAdam(groups, options));

describe('RAdam', () => {
  test('ρt crosses 5 at t = 6 for β2 = 0.999 (ρ5 ≈ 4.996, ρ6 ≈ 5.994)', () => {
    expect(radamRho(0.999, 1)).toBeCloseTo(1, 12);
    expect(radamRho(0.999, 5)).toBeLessThan(5);
    expect(radamRho(0.999, 6)).toBeGreaterThan(5);
  });

  test('while ρt ≤ 5 the update is bias-corrected momentum without the second moment (first step: p − lr·g)', () => {
    const p = new Parameter(new Float64Array([1, -1]), [2]);
    const opt = new RAdam([p], { lr: 0.1, eps: 0.5 });
    p.grad = new Float64Array([0.5, -2]);
    opt.step();
    // m/(1 − β1) = g exactly, and neither eps nor v enter the un-adapted branch.
    expect(p.data[0]).toBeCloseTo(1 - 0.1 * 0.5, 15);
    expect(p.data[1]).toBeCloseTo(-1 + 0.1 * 2, 15);
    const s = opt.state.get(p)!;
    expect(s.exp_avg_sq[1]).toBeCloseTo(0.001 * 4, 15);
  });

  test('from the step where ρt > 5 the rectified adaptive step applies, eps on the uncorrected root', () => {
    const lr = 0.01;
    const g = 0.2;
    const eps = 1e-3;
    const p = new Parameter(new Float64Array([0]), [1]);
    const opt = new RAdam([p], { lr, eps });
    let before = 0;
    for (let t = 1; t <= 6; t++) {
      p.grad = new Float64Array([g]);
      before = p.data[0]!;
      opt.step();
    }
    // With a constant gradient m6 = (1 − β1⁶)·g and v6 = (1 − β2⁶)·g².
    const t = 6;
    const bc1 = 1 - 0.9 ** t;
    const bc2 = 1 - 0.999 ** t;
    const rhoInf = 2 / (1 - 0.999) - 1;
    const rhoT = rhoInf - (2 * t * 0.999 ** t) / bc2;
    const rect = Math.sqrt(((rhoT - 4) * (rhoT - 2) * rhoInf) / ((rhoInf - 4) * (rhoInf - 2) * rhoT));
    const m = bc1 * g;
    const v = bc2 * g * g;
    const expected = before - (m / bc1) * lr * (Math.sqrt(bc2) / (Math.sqrt(v) + eps)) * rect;
    expect(p.data[0]).toBeCloseTo(expected, 15);
    // The same step without rectification (plain m/bc1·lr) would be much larger: the branch matters.
    expect(Math.abs(p.data[0]! - before)).toBeLessThan(0.5 * lr * g);
  });

  test('maximize negates the gradient before weight decay is added', () => {
    const a = new Parameter(new Float32Array([1, -2]), [2]);
    const b = new Parameter(new Float32Array([1, -2]), [2]);
    const max = new RAdam([a], { maximize: true, weightDecay: 0.1, lr: 0.05 });
    const min = new RAdam([b], { weightDecay: 0.1, lr: 0.05 });
    for (let k = 0; k < 8; k++) {
      a.grad = new Float32Array([0.4, -0.2]);
      b.grad = new Float32Array([-0.4, 0.2]);
      max.step();
      min.step();
    }
    expect(Array.from(a.data)).toEqual(Array.from(b.data));
  });

  test('invalid options throw InvalidOptionError naming the option', () => {
    const p = Parameter.zeros([2]);
    expect(() => new RAdam([p], { lr: -1 })).toThrow(InvalidOptionError);
    expect(() => new RAdam([p], { lr: -1 })).toThrow(/lr/);
    expect(() => new RAdam([p], { betas: [1.5, 0.999] })).toThrow(/betas\[0\]/);
    expect(() => new RAdam([p], { betas: [0.9, 1] })).toThrow(/betas\[1\]/);
    expect(() => new RAdam([p], { eps: -1e-8 })).toThrow(/eps/);
    expect(() => new RAdam([p], { weightDecay: -1 })).toThrow(/weightDecay/);
    expect(() => new RAdam([p], { maximize: 'yes' as never })).toThrow(/maximize/);
  });
});
