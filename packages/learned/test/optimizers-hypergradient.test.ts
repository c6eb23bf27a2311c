import { Adam } from '@opt/core';
import { InvalidOptionError, Parameter } from '@opt/tensor';
import { HypergradientAdam, HypergradientSGD } from '../src/index';

/** f(x, y) = (x² + 4y²)/2, gradient (x, 4y). */
function quadGrad(p: Parameter): void {
  p.grad = new Float64Array([p.data[0]!, 4 * p.data[1]!]);
}

describe('HypergradientSGD', () => {
  test('the additive rule follows a hand-computed 3-step trajectory on a 1-D quadratic', () => {
    // f = x²/2, x0 = 1, α0 = 0.1, β = 0.01.
    // t=1: g=1, no previous direction → α1 = 0.1, x1 = 0.9
    // t=2: g=0.9, h = −0.9·1 → α2 = 0.1 + 0.01·0.9 = 0.109, x2 = 0.9 − 0.109·0.9 = 0.8019
    // t=3: g=0.8019, ĝ·u = 0.8019·0.9 = 0.72171 → α3 = 0.1162171, x3 = 0.8019 − 0.1162171·0.8019 = 0.70870550751
    const x = new Parameter(new Float64Array([1]), [1], 'x');
    const opt = new HypergradientSGD([x], { lr: 0.1, hypergradLr: 0.01 });
    const expected = [
      [0.1, 0.9],
      [0.109, 0.8019],
      [0.1162171, 0.70870550751],
    ];
    for (const [lr, value] of expected) {
      x.grad = new Float64Array([x.data[0]!]);
      opt.step();
      expect(opt.paramGroups[0]!.lr).toBeCloseTo(lr!, 14);
      expect(x.data[0]).toBeCloseTo(value!, 14);
    }
  });

  test('the multiplicative rule scales the learning rate by 1 + β·cos(g_t, u_{t−1}) (hand-computed, 2-D)', () => {
    const x = new Parameter(new Float64Array([1, 1]), [2], 'x');
    const beta = 0.5;
    const opt = new HypergradientSGD([x], { lr: 0.1, hypergradLr: beta, rule: 'multiplicative' });
    // t=1: g1 = (1, 4), α1 = 0.1, x1 = (0.9, 0.6)
    quadGrad(x);
    opt.step();
    expect(Array.from(x.data)).toEqual([1 - 0.1, 1 - 0.4]);
    // t=2: g2 = (0.9, 2.4); cos = (0.9 + 9.6) / (|g2| |g1|)
    const cos2 = 10.5 / (Math.sqrt(0.81 + 5.76) * Math.sqrt(17));
    const a2 = 0.1 * (1 + beta * cos2);
    quadGrad(x);
    opt.step();
    expect(opt.paramGroups[0]!.lr).toBeCloseTo(a2, 14);
    const x2 = [0.9 - a2 * 0.9, 0.6 - a2 * 2.4];
    expect(x.data[0]).toBeCloseTo(x2[0]!, 14);
    expect(x.data[1]).toBeCloseTo(x2[1]!, 14);
    // t=3: g3 = (x2, 4·y2), u2 = g2
    const g3 = [x2[0]!, 4 * x2[1]!];
    const cos3 = (g3[0]! * 0.9 + g3[1]! * 2.4) / (Math.hypot(g3[0]!, g3[1]!) * Math.sqrt(0.81 + 5.76));
    const a3 = a2 * (1 + beta * cos3);
    quadGrad(x);
    opt.step();
    expect(opt.paramGroups[0]!.lr).toBeCloseTo(a3, 14);
    expect(x.data[0]).toBeCloseTo(x2[0]! - a3 * g3[0]!, 14);
    expect(x.data[1]).toBeCloseTo(x2[1]! - a3 * g3[1]!, 14);
  });

  test('with momentum the hypergradient uses the previous momentum direction (hand-computed)', () => {
    // f = x²/2, x0 = 1, α0 = 0.1, μ = 0.5, β = 0.01.
    // t=1: buf = 1, u1 = 1, x1 = 0.9
    // t=2: ĝ = 0.9, α2 = 0.1 + 0.01·0.9·1 = 0.109, buf = 0.5 + 0.9 = 1.4, x2 = 0.9 − 0.109·1.4 = 0.7474
    // t=3: ĝ = 0.7474, α3 = 0.109 + 0.01·0.7474·1.4 = 0.11946360, buf = 0.7 + 0.7474 = 1.4474,
    //      x3 = 0.7474 − 0.1194636·1.4474 = 0.57448850...
    const x = new Parameter(new Float64Array([1]), [1], 'x');
    const opt = new HypergradientSGD([x], { lr: 0.1, momentum: 0.5, hypergradLr: 0.01 });
    const expected = [
      [0.1, 0.9],
      [0.109, 0.7474],
      [0.1194636, 0.7474 - 0.1194636 * 1.4474],
    ];
    for (const [lr, value] of expected) {
      x.grad = new Float64Array([x.data[0]!]);
      opt.step();
      expect(opt.paramGroups[0]!.lr).toBeCloseTo(lr!, 14);
      expect(x.data[0]).toBeCloseTo(value!, 14);
    }
  });

  test('the adapted learning rate survives a state dict round trip', () => {
    const x = new Parameter(new Float64Array([1, 1]), [2], 'x');
    const opt = new HypergradientSGD([x], { lr: 0.01, hypergradLr: 1e-3 });
    for (let i = 0; i < 5; i++) {
      quadGrad(x);
      opt.step();
    }
    const saved = JSON.parse(JSON.stringify(opt.stateDict()));
    const y = new Parameter(x.data.slice(), [2], 'x');
    const resumed = new HypergradientSGD([y], { lr: 0.01, hypergradLr: 1e-3 });
    resumed.loadStateDict(saved);
    expect(resumed.paramGroups[0]!.lr).toBe(opt.paramGroups[0]!.lr);
    for (let i = 0; i < 5; i++) {
      quadGrad(x);
      opt.step();
      quadGrad(y);
      resumed.step();
    }
    expect(Array.from(y.data)).toEqual(Array.from(x.data));
  });

  test('bad options throw typed errors naming the option', () => {
    const x = new Parameter(new Float64Array([1]), [1], 'x');
    expect(() => new HypergradientSGD([x], { hypergradLr: -1 })).toThrow(InvalidOptionError);
    expect(() => new HypergradientSGD([x], { hypergradLr: -1 })).toThrow(/hypergradLr/);
    expect(() => new HypergradientSGD([x], { rule: 'exponential' as never })).toThrow(/rule/);
    expect(() => new HypergradientSGD([x], { nesterov: true })).toThrow(/momentum/);
  });
});

describe('HypergradientAdam', () => {
  test('the additive rule follows a hand-computed 3-step trajectory on a 1-D quadratic', () => {
    const b1 = 0.9;
    const b2 = 0.999;
    const eps = 1e-8;
    const beta = 0.01;
    const x = new Parameter(new Float64Array([1]), [1], 'x');
    const opt = new HypergradientAdam([x], { lr: 0.1, hypergradLr: beta, betas: [b1, b2], eps });
    // Hand-unrolled Adam-HD: u_{t−1} = m̂_{t−1}/(√v̂_{t−1} + eps) from the moments before the update.
    let xv = 1;
    let m = 0;
    let v = 0;
    let lr = 0.1;
    // t = 1: no previous direction.
    let g = xv;
    m = b1 * m + (1 - b1) * g; // 0.1
    v = b2 * v + (1 - b2) * g * g; // 0.001
    xv -= (lr / (1 - b1)) * (m / (Math.sqrt(v) / Math.sqrt(1 - b2) + eps)); // 1 − 0.1·(1/(1+1e-8))
    x.grad = new Float64Array([x.data[0]!]);
    opt.step();
    expect(opt.paramGroups[0]!.lr).toBe(0.1);
    expect(x.data[0]).toBeCloseTo(xv, 14);
    expect(x.data[0]).toBeCloseTo(0.9, 7);
    for (let t = 2; t <= 3; t++) {
      g = xv;
      const uPrev = (m / (1 - b1 ** (t - 1))) / (Math.sqrt(v) / Math.sqrt(1 - b2 ** (t - 1)) + eps);
      lr += beta * g * uPrev;
      m = b1 * m + (1 - b1) * g;
      v = b2 * v + (1 - b2) * g * g;
      xv -= (lr / (1 - b1 ** t)) * (m / (Math.sqrt(v) / Math.sqrt(1 - b2 ** t) + eps));
      x.grad = new Float64Array([x.data[0]!]);
      opt.step();
      expect(opt.paramGroups[0]!.lr).toBeCloseTo(lr, 14);
      expect(x.data[0]).toBeCloseTo(xv, 14);
    }
    // t=2 by hand: u1 = 1/(1+1e-8) ≈ 1, so α2 ≈ 0.1 + 0.01·0.9 = 0.109.
    expect(lr).toBeGreaterThan(0.109);
  });

  test('with hypergradLr 0 it is Adam, bit for bit', () => {
    const a = new Parameter(new Float64Array([1, -2]), [2], 'a');
    const b = new Parameter(new Float64Array([1, -2]), [2], 'b');
    const adam = new Adam([a], { lr: 0.05 });
    const hd = new HypergradientAdam([b], { lr: 0.05, hypergradLr: 0 });
    for (let i = 0; i < 20; i++) {
      quadGrad(a);
      quadGrad(b);
      adam.step();
      hd.step();
    }
    expect(Array.from(b.data)).toEqual(Array.from(a.data));
  });

  test('a too small initial learning rate is raised by the hypergradient on a quadratic', () => {
    const x = new Parameter(new Float64Array([3, -2]), [2], 'x');
    const opt = new HypergradientAdam([x], { lr: 1e-3, hypergradLr: 1e-3 });
    for (let i = 0; i < 100; i++) {
      quadGrad(x);
      opt.step();
    }
    expect(opt.paramGroups[0]!.lr).toBeGreaterThan(1e-2);
  });
});
