import { InvalidOptionError, Parameter } from '@opt/tensor';
import { Adagrad } from '../src/index';
import { describeFixtureReplay } from './helpers/fixtures';

describeFixtureReplay('optim/adagrad.json', (groups, options) => new Adagrad(groups, options));

describe('Adagrad', () => {
  test('state exists from construction: step 0 and sum filled with initialAccumulatorValue', () => {
    const a = new Parameter(new Float32Array([1, 2, 3]), [3], 'a');
    const b = new Parameter(new Float32Array([4]), [1], 'b');
    const opt = new Adagrad([{ params: [a] }, { params: [b], initialAccumulatorValue: 0.25 }], { initialAccumulatorValue: 0.5 });
    expect(opt.state.get(a)!.step).toBe(0);
    expect(Array.from(opt.state.get(a)!.sum)).toEqual([0.5, 0.5, 0.5]);
    expect(opt.state.get(a)!.sum).toBeInstanceOf(Float32Array);
    expect(Array.from(opt.state.get(b)!.sum)).toEqual([0.25]);
    expect(Object.keys(opt.stateDict().state)).toEqual(['0', '1']);
  });

  test('the first step divides by sqrt(initial + g²) + eps; lrDecay shrinks the second step to lr/(1 + lrDecay)', () => {
    const p = new Parameter(new Float64Array([1]), [1]);
    const opt = new Adagrad([p], { lr: 0.1, lrDecay: 0.5, initialAccumulatorValue: 5 });
    p.grad = new Float64Array([2]);
    opt.step();
    const p1 = 1 - (0.1 * 2) / (Math.sqrt(9) + 1e-10);
    expect(p.data[0]).toBeCloseTo(p1, 15);
    p.grad = new Float64Array([4]);
    opt.step();
    expect(opt.state.get(p)!.sum[0]).toBe(25);
    expect(p.data[0]).toBeCloseTo(p1 - (0.1 / 1.5) * (4 / (5 + 1e-10)), 15);
  });

  test('a parameter without a gradient keeps its state and step count', () => {
    const a = new Parameter(new Float64Array([1]), [1]);
    const b = new Parameter(new Float64Array([1]), [1]);
    const opt = new Adagrad([a, b]);
    a.grad = new Float64Array([1]);
    opt.step();
    expect(opt.state.get(a)!.step).toBe(1);
    expect(opt.state.get(b)!.step).toBe(0);
    expect(b.data[0]).toBe(1);
  });

  test('rejects negative lrDecay and initialAccumulatorValue, naming the option', () => {
    const p = Parameter.zeros([2]);
    expect(() => new Adagrad([p], { lrDecay: -1 })).toThrow(InvalidOptionError);
    expect(() => new Adagrad([p], { lrDecay: -1 })).toThrow(/Adagrad: invalid lrDecay/);
    expect(() => new Adagrad([p], { initialAccumulatorValue: -0.1 })).toThrow(/invalid initialAccumulatorValue/);
    expect(() => new Adagrad([p], { eps: 0 })).toThrow(/invalid eps/);
  });
});
