import { InvalidOptionError, Parameter } from '@opt/tensor';
import { Adamax } from '../src/index';
import { describeFixtureReplay } from './helpers/fixtures';

describeFixtureReplay('optim/adamax.json', (groups, options) => new Adamax(groups, options));

describe('Adamax', () => {
  test('the first step moves by lr·g/(|g| + eps): the bias correction cancels (1 − β1)', () => {
    const p = new Parameter(new Float64Array([1, 1]), [2]);
    const opt = new Adamax([p], { lr: 0.1 });
    p.grad = new Float64Array([0.5, -2]);
    opt.step();
    expect(p.data[0]).toBeCloseTo(1 - (0.1 * 0.5) / (0.5 + 1e-8), 14);
    expect(p.data[1]).toBeCloseTo(1 + (0.1 * 2) / (2 + 1e-8), 14);
    expect(Array.from(opt.state.get(p)!.exp_inf)).toEqual([0.5 + 1e-8, 2 + 1e-8]);
  });

  test('exp_inf keeps β2·u when it exceeds |g| + eps', () => {
    const p = new Parameter(new Float64Array([0]), [1]);
    const opt = new Adamax([p], { betas: [0.9, 0.5], eps: 0.01 });
    p.grad = new Float64Array([4]);
    opt.step();
    p.grad = new Float64Array([1]);
    opt.step();
    expect(opt.state.get(p)!.exp_inf[0]).toBe(0.5 * 4.01);
    p.grad = new Float64Array([3]);
    opt.step();
    expect(opt.state.get(p)!.exp_inf[0]).toBe(3.01);
  });

  test('rejects bad betas and a negative weight decay, naming the option', () => {
    const p = Parameter.zeros([2]);
    expect(() => new Adamax([p], { betas: [1.2, 0.9] })).toThrow(InvalidOptionError);
    expect(() => new Adamax([p], { betas: [1.2, 0.9] })).toThrow(/Adamax: invalid betas\[0\]/);
    expect(() => new Adamax([p], { weightDecay: -1 })).toThrow(/invalid weightDecay/);
  });
});
