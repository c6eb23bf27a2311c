import { Parameter, InvalidOptionError } from '@opt/tensor';
import { SGD } from '../src/index';
import { describeFixtureReplay } from './helpers/fixtures';

describeFixtureReplay('optim/sgd.json', (groups, options) => new SGD(groups, options));

describe('SGD', () => {
  test('the first momentum step copies the gradient without the dampening factor, later steps damp it', () => {
    const p = new Parameter(new Float64Array([1]), [1]);
    const opt = new SGD([p], { lr: 0.1, momentum: 0.9, dampening: 0.5 });
    p.grad = new Float64Array([2]);
    opt.step();
    expect(opt.state.get(p)!.momentum_buffer![0]).toBe(2); // buf = g
    expect(p.data[0]).toBeCloseTo(1 - 0.1 * 2, 15);
    opt.step();
    expect(opt.state.get(p)!.momentum_buffer![0]).toBeCloseTo(0.9 * 2 + 0.5 * 2, 15);
  });

  test('nesterov requires momentum > 0 and zero dampening', () => {
    const p = Parameter.zeros([2]);
    expect(() => new SGD([p], { nesterov: true })).toThrow(InvalidOptionError);
    expect(() => new SGD([p], { nesterov: true, momentum: 0.9, dampening: 0.1 })).toThrow(/nesterov/);
  });
});
