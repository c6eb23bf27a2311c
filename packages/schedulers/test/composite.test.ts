import { InvalidOptionError, Parameter, SGD } from '@opt/core';
import { ChainedScheduler, ConstantLR, CosineAnnealingLR, ExponentialLR, LinearLR, ReduceLROnPlateau, SequentialLR, StepLR } from '../src/index';
import { describeFixtureReplay } from './helpers/fixtures';

describeFixtureReplay('schedulers/sequentiallr.json');
describeFixtureReplay('schedulers/chainedscheduler.json');

function sgd(lr = 1): SGD {
  return new SGD([new Parameter(new Float64Array([1]))], { lr });
}

describe('SequentialLR', () => {
  test('construction resets to the base lr and redoes only the first child’s construction step', () => {
    const opt = sgd();
    const a = new ConstantLR(opt, { factor: 0.5, totalIters: 2 });
    const b = new ExponentialLR(opt, { gamma: 0.9 });
    new SequentialLR(opt, { schedulers: [a, b], milestones: [3] });
    expect(opt.paramGroups[0]!.lr).toBe(0.5);
    expect(a.lastEpoch).toBe(0);
    expect(b.lastEpoch).toBe(-1);
  });

  test('at a milestone the next child restarts from its closed form at epoch 0', () => {
    const opt = sgd();
    const warm = new LinearLR(opt, { startFactor: 0.5, totalIters: 2 });
    const decay = new StepLR(opt, { stepSize: 1, gamma: 0.5 });
    const s = new SequentialLR(opt, { schedulers: [warm, decay], milestones: [2] });
    s.step();
    expect(opt.paramGroups[0]!.lr).toBeCloseTo(0.75, 15);
    s.step(); // milestone: StepLR.step(0) → base
    expect(opt.paramGroups[0]!.lr).toBe(1);
    s.step();
    expect(opt.paramGroups[0]!.lr).toBe(0.5);
    expect(s.getLastLr()).toEqual([0.5]);
  });

  test('rejects a wrong milestone count, a scheduler of another optimizer, and ReduceLROnPlateau', () => {
    const opt = sgd();
    const other = sgd();
    const a = new ExponentialLR(opt, { gamma: 0.9 });
    expect(() => new SequentialLR(opt, { schedulers: [a, new ExponentialLR(opt, { gamma: 0.5 })], milestones: [] })).toThrow(InvalidOptionError);
    expect(() => new SequentialLR(opt, { schedulers: [a, new ExponentialLR(other, { gamma: 0.5 })], milestones: [2] })).toThrow(/schedulers\[1\]/);
    const plateau = new ReduceLROnPlateau(opt) as unknown as ExponentialLR;
    expect(() => new SequentialLR(opt, { schedulers: [a, plateau], milestones: [2] })).toThrow(InvalidOptionError);
  });
});

describe('ChainedScheduler', () => {
  test('composes recursive children multiplicatively', () => {
    const opt = sgd();
    const s = new ChainedScheduler([new ConstantLR(opt, { factor: 0.1, totalIters: 2 }), new ExponentialLR(opt, { gamma: 0.9 })]);
    expect(opt.paramGroups[0]!.lr).toBeCloseTo(0.1, 16);
    s.step();
    expect(opt.paramGroups[0]!.lr).toBeCloseTo(0.09, 16);
    s.step();
    expect(opt.paramGroups[0]!.lr).toBeCloseTo(0.81, 15);
  });

  test('cosine inside a chain follows its recursive form', () => {
    const opt = sgd();
    const s = new ChainedScheduler([new CosineAnnealingLR(opt, { tMax: 10 }), new ExponentialLR(opt, { gamma: 0.5 })]);
    s.step();
    const cosine = (1 + Math.cos(Math.PI / 10)) / 2;
    expect(opt.paramGroups[0]!.lr).toBeCloseTo(cosine * 0.5, 15);
  });
});
