import { InvalidOptionError, Parameter } from '@opt/tensor';
import { Adadelta } from '../src/index';
import { describeFixtureReplay } from './helpers/fixtures';

describeFixtureReplay('optim/adadelta.json', (groups, options) => new Adadelta(groups, options));

describe('Adadelta', () => {
  test('the first step is sqrt(eps)/sqrt((1 − ρ)·g² + eps)·g, with eps inside both roots', () => {
    const p = new Parameter(new Float64Array([1]), [1]);
    const opt = new Adadelta([p]);
    p.grad = new Float64Array([2]);
    opt.step();
    const delta = (Math.sqrt(1e-6) / Math.sqrt(0.1 * 4 + 1e-6)) * 2;
    expect(p.data[0]).toBeCloseTo(1 - delta, 15);
    const s = opt.state.get(p)!;
    expect(s.step).toBe(1);
    expect(s.square_avg[0]).toBeCloseTo(0.4, 15);
    expect(s.acc_delta[0]).toBeCloseTo(0.1 * delta * delta, 18);
  });

  test('lr scales the update and maximize flips its sign', () => {
    const a = new Parameter(new Float64Array([0]), [1]);
    const b = new Parameter(new Float64Array([0]), [1]);
    const base = new Adadelta([a]);
    const other = new Adadelta([b], { lr: 0.5, maximize: true });
    a.grad = new Float64Array([3]);
    b.grad = new Float64Array([3]);
    base.step();
    other.step();
    expect(b.data[0]).toBeCloseTo(-0.5 * a.data[0]!, 18);
  });

  test('rejects rho outside [0, 1] and a non-positive eps, naming the option', () => {
    const p = Parameter.zeros([2]);
    expect(() => new Adadelta([p], { rho: 1.5 })).toThrow(InvalidOptionError);
    expect(() => new Adadelta([p], { rho: 1.5 })).toThrow(/Adadelta: invalid rho/);
    expect(() => new Adadelta([p], { eps: -1 })).toThrow(/invalid eps/);
    expect(() => new Adadelta([p], { lr: -1 })).toThrow(/invalid lr/);
  });
});
