import { InvalidOptionError, Parameter } from '@opt/tensor';
import { Yogi } from '../src/index';

/** Two Yogi steps written out from Zaheer et al. (2018), Algorithm 2, with Adam's bias corrections. */
function reference(p0: number, grads: number[], o: { lr: number; b1: number; b2: number; eps: number; v0: number; wd: number }): number[] {
  let p = p0;
  let m = 0;
  let v = o.v0;
  const out: number[] = [];
  grads.forEach((g0, k) => {
    const t = k + 1;
    const g = g0 + o.wd * p;
    m = o.b1 * m + (1 - o.b1) * g;
    v = v - (1 - o.b2) * Math.sign(v - g * g) * g * g;
    p = p - ((o.lr * Math.sqrt(1 - o.b2 ** t)) / (1 - o.b1 ** t)) * (m / (Math.sqrt(v) + o.eps));
    out.push(p);
  });
  return out;
}

describe('Yogi', () => {
  test('the additive second-moment update grows v by at most (1 − β2)·g² per step and matches the paper step by step', () => {
    const w = new Parameter(new Float64Array([0.7, -1.2]), [2], 'w');
    const opt = new Yogi([w], { lr: 0.05, betas: [0.9, 0.99], eps: 1e-3, initialAccumulatorValue: 1e-6, weightDecay: 0.01 });
    const grads = [
      [0.5, -2],
      [0.1, 3],
      [-0.4, 0.2],
    ];
    const got: number[][] = [];
    for (const g of grads) {
      w.grad = new Float64Array(g);
      opt.step();
      got.push(Array.from(w.data));
    }
    for (const i of [0, 1]) {
      const ref = reference(i === 0 ? 0.7 : -1.2, grads.map((g) => g[i]!), { lr: 0.05, b1: 0.9, b2: 0.99, eps: 1e-3, v0: 1e-6, wd: 0.01 });
      got.forEach((row, k) => expect(row[i]).toBeCloseTo(ref[k]!, 14));
    }
    const v = opt.state.get(w)!.exp_avg_sq;
    expect(v[0]).toBeGreaterThan(0);
  });

  test('a state dict round trip continues bit for bit', () => {
    const make = () => new Parameter(new Float32Array([0.3, -0.8, 1.5]), [3], 'w');
    const a = make();
    const optA = new Yogi([a], { lr: 0.1 });
    const step = (p: Parameter, o: Yogi, k: number) => {
      p.grad = Float32Array.from(p.data, (x, i) => x * (k + 1) - 0.1 * i);
      o.step();
    };
    for (let k = 0; k < 3; k++) step(a, optA, k);
    const saved = JSON.parse(JSON.stringify(optA.stateDict()));
    const b = new Parameter(Float32Array.from(a.data), [3], 'w');
    const optB = new Yogi([b], { lr: 0.1 });
    optB.loadStateDict(saved);
    for (let k = 3; k < 6; k++) {
      step(a, optA, k);
      step(b, optB, k);
    }
    expect(Array.from(b.data)).toEqual(Array.from(a.data));
  });

  test('invalid options are typed errors naming the option', () => {
    const w = new Parameter(new Float64Array(1));
    expect(() => new Yogi([w], { eps: 0 })).toThrow(InvalidOptionError);
    expect(() => new Yogi([w], { eps: 0 })).toThrow(/eps/);
    expect(() => new Yogi([w], { betas: [1, 0.9] })).toThrow(/betas/);
    expect(() => new Yogi([w], { lr: -1 })).toThrow(/lr/);
    expect(() => new Yogi([w], { initialAccumulatorValue: -1 })).toThrow(/initialAccumulatorValue/);
  });
});
