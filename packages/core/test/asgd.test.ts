import { InvalidOptionError, Parameter } from '@opt/tensor';
import { ASGD } from '../src/index';
import { describeFixtureReplay } from './helpers/fixtures';

describeFixtureReplay('optim/asgd.json', (groups, options) => new ASGD(groups, options));

describe('ASGD', () => {
  test('the first step uses eta = fl32(lr) even for float64 parameters, after the decay term', () => {
    const p = new Parameter(new Float64Array([1]), [1]);
    const opt = new ASGD([p], { lr: 0.1, lambd: 0.01 });
    p.grad = new Float64Array([2]);
    opt.step();
    const eta = Math.fround(0.1);
    expect(eta).not.toBe(0.1);
    expect(p.data[0]).toBe(1 * (1 - 0.01 * eta) - eta * 2);
    const s = opt.state.get(p)!;
    expect(s.eta).toBe(Math.fround(0.1 / (1 + 0.01 * 0.1 * 1) ** 0.75));
    expect(s.mu).toBe(1);
    expect(Array.from(s.ax)).toEqual(Array.from(p.data));
  });

  test('after t0 steps ax averages the iterates', () => {
    const p = new Parameter(new Float64Array([1]), [1]);
    const opt = new ASGD([p], { lr: 0.5, lambd: 0, t0: 0 });
    const iterates: number[] = [];
    for (let k = 0; k < 4; k++) {
      p.grad = new Float64Array([1]);
      opt.step();
      iterates.push(p.data[0]!);
    }
    // mu = 1/max(1, t − t0): 1 after step 1, 1/2 after step 2, 1/3 after step 3.
    expect(iterates).toEqual([0.5, 0, -0.5, -1]);
    expect(opt.state.get(p)!.ax[0]).toBeCloseTo((0 - 0.5 - 1) / 3, 7);
    expect(opt.state.get(p)!.mu).toBe(Math.fround(1 / 4));
  });

  test('rejects a negative lambd or t0 and a non-finite alpha, naming the option', () => {
    const p = Parameter.zeros([2]);
    expect(() => new ASGD([p], { lambd: -1 })).toThrow(InvalidOptionError);
    expect(() => new ASGD([p], { lambd: -1 })).toThrow(/ASGD: invalid lambd/);
    expect(() => new ASGD([p], { t0: -1 })).toThrow(/invalid t0/);
    expect(() => new ASGD([p], { alpha: NaN })).toThrow(/invalid alpha/);
    expect(() => new ASGD([p], { t0: Infinity })).not.toThrow();
  });
});
