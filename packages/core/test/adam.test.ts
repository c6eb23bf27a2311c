import { Parameter } from '@opt/tensor';
import { Adam } from '../src/index';
import { describeFixtureReplay } from './helpers/fixtures';

describeFixtureReplay('optim/adam.json', (groups, options) => new Adam(groups, options));

describe('Adam', () => {
  test('the first step moves each coordinate by lr·g/(|g| + eps) (bias corrections cancel)', () => {
    const p = new Parameter(new Float64Array([1, 1]), [2]);
    const opt = new Adam([p], { lr: 0.1 });
    p.grad = new Float64Array([0.5, -2]);
    opt.step();
    expect(p.data[0]).toBeCloseTo(1 - (0.1 * 0.5) / (0.5 + 1e-8), 14);
    expect(p.data[1]).toBeCloseTo(1 + (0.1 * 2) / (2 + 1e-8), 14);
  });

  test('amsgrad keeps the running maximum of the uncorrected second moment', () => {
    const p = new Parameter(new Float64Array([0]), [1]);
    const opt = new Adam([p], { amsgrad: true, betas: [0.9, 0.5] });
    p.grad = new Float64Array([4]);
    opt.step();
    p.grad = new Float64Array([0]);
    opt.step();
    const s = opt.state.get(p)!;
    expect((s.max_exp_avg_sq as Float64Array)[0]).toBe(0.5 * 16);
    expect(s.exp_avg_sq[0]).toBe(0.25 * 16);
  });
});
