import { InvalidOptionError, Parameter } from '@opt/tensor';
import { AdamW } from '../src/index';
import { describeFixtureReplay } from './helpers/fixtures';

describeFixtureReplay('optim/adamw.json', (groups, options) => new AdamW(groups, options));

describe('AdamW', () => {
  test('the first step decays the parameter by 1 − lr·weightDecay, then moves it by lr·g/(|g| + eps)', () => {
    const p = new Parameter(new Float64Array([1, -2]), [2]);
    const opt = new AdamW([p], { lr: 0.1, weightDecay: 0.5 });
    p.grad = new Float64Array([0.5, -3]);
    opt.step();
    expect(p.data[0]).toBeCloseTo(1 * 0.95 - (0.1 * 0.5) / (0.5 + 1e-8), 14);
    expect(p.data[1]).toBeCloseTo(-2 * 0.95 + (0.1 * 3) / (3 + 1e-8), 14);
  });

  test('weight decay is decoupled: it never enters the moments', () => {
    const p = new Parameter(new Float64Array([4]), [1]);
    const opt = new AdamW([p], { lr: 0.1, weightDecay: 0.2 });
    p.grad = new Float64Array([0]);
    opt.step();
    opt.step();
    expect(p.data[0]).toBe(4 * 0.98 * 0.98);
    expect(opt.state.get(p)!.exp_avg[0]).toBe(0);
    expect(opt.state.get(p)!.exp_avg_sq[0]).toBe(0);
  });

  test('defaults to weightDecay 0.01 and writes "AdamW" into its state dict', () => {
    const p = Parameter.zeros([2]);
    const opt = new AdamW([p]);
    expect(opt.paramGroups[0]!.weightDecay).toBe(0.01);
    expect(opt.stateDict().optimizer).toBe('AdamW');
  });

  test('rejects a negative weight decay and a beta outside [0, 1), naming the option', () => {
    const p = Parameter.zeros([2]);
    expect(() => new AdamW([p], { weightDecay: -0.1 })).toThrow(InvalidOptionError);
    expect(() => new AdamW([p], { weightDecay: -0.1 })).toThrow(/AdamW: invalid weightDecay/);
    expect(() => new AdamW([p], { betas: [0.9, 1] })).toThrow(/invalid betas\[1\]/);
  });
});
