import { Parameter, SGD } from '@opt/core';
import { ConstantLR, ExponentialLR, LambdaLR, LinearLR, MultiStepLR, MultiplicativeLR, PolynomialLR, StepLR } from '../src/index';
import { describeFixtureReplay } from './helpers/fixtures';

for (const file of [
  'schedulers/lambdalr.json',
  'schedulers/multiplicativelr.json',
  'schedulers/steplr.json',
  'schedulers/multisteplr.json',
  'schedulers/constantlr.json',
  'schedulers/linearlr.json',
  'schedulers/exponentiallr.json',
  'schedulers/polynomiallr.json',
]) {
  describeFixtureReplay(file);
}

function sgd(lrs: number[] = [0.1, 0.01]): SGD {
  return new SGD(lrs.map((lr, g) => ({ params: [new Parameter(new Float64Array([g]))], lr })), { momentum: 0.9 });
}

function lrs(opt: SGD): number[] {
  return opt.paramGroups.map((g) => g.lr);
}

describe('epoch-based schedulers: construction and closed forms', () => {
  test('construction records initialLr once and performs the step at epoch 0', () => {
    const opt = sgd();
    const s = new ConstantLR(opt, { factor: 0.5, totalIters: 3 });
    expect(s.lastEpoch).toBe(0);
    expect(s.stepCount).toBe(1);
    expect(s.baseLrs).toEqual([0.1, 0.01]);
    expect(lrs(opt)).toEqual([0.05, 0.005]);
    expect(opt.paramGroups.map((g) => (g as unknown as { initialLr: number }).initialLr)).toEqual([0.1, 0.01]);
    // A second scheduler keeps the first one's initialLr as its base (PyTorch's setdefault).
    const second = new ExponentialLR(opt, { gamma: 0.9 });
    expect(second.baseLrs).toEqual([0.1, 0.01]);
    expect(lrs(opt)).toEqual([0.05, 0.005]);
  });

  test('getLastLr returns a copy of the lrs written by the latest step', () => {
    const opt = sgd();
    const s = new StepLR(opt, { stepSize: 1, gamma: 0.5 });
    s.step();
    const last = s.getLastLr();
    expect(last).toEqual([0.05, 0.005]);
    last[0] = 42;
    expect(s.getLastLr()).toEqual([0.05, 0.005]);
  });

  test('step(epoch) uses the closed form where PyTorch has one', () => {
    const cases: Array<[string, (o: SGD) => { step(e?: number): void }, number, number]> = [
      ['StepLR', (o) => new StepLR(o, { stepSize: 3, gamma: 0.5 }), 7, 0.1 * 0.25],
      ['MultiStepLR', (o) => new MultiStepLR(o, { milestones: [2, 5, 5], gamma: 0.5 }), 6, 0.1 * 0.125],
      ['ExponentialLR', (o) => new ExponentialLR(o, { gamma: 0.9 }), 4, 0.1 * 0.9 ** 4],
      ['ConstantLR', (o) => new ConstantLR(o, { factor: 0.5, totalIters: 3 }), 2, 0.05],
      ['LinearLR', (o) => new LinearLR(o, { startFactor: 0.5, totalIters: 4 }), 2, 0.1 * 0.75],
      ['PolynomialLR', (o) => new PolynomialLR(o, { totalIters: 4, power: 2 }), 2, 0.1 * 0.25],
    ];
    for (const [, make, epoch, expected] of cases) {
      const opt = sgd();
      const s = make(opt);
      s.step(epoch);
      expect(opt.paramGroups[0]!.lr).toBeCloseTo(expected, 15);
    }
  });

  test('a repeated MultiStepLR milestone multiplies once per occurrence', () => {
    const opt = sgd([1]);
    const s = new MultiStepLR(opt, { milestones: [2, 2], gamma: 0.5 });
    s.step();
    s.step();
    expect(s.getLastLr()).toEqual([0.25]);
  });

  test('LambdaLR accepts one function per group and is not recursive', () => {
    const opt = sgd();
    const s = new LambdaLR(opt, { lrLambda: [(e) => e + 1, () => 2] });
    s.step();
    s.step();
    expect(lrs(opt)).toEqual([0.1 * 3, 0.02]);
  });

  test('MultiplicativeLR does not multiply at construction', () => {
    const opt = sgd();
    const s = new MultiplicativeLR(opt, { lrLambda: () => 0.5 });
    expect(lrs(opt)).toEqual([0.1, 0.01]);
    s.step();
    expect(lrs(opt)).toEqual([0.05, 0.005]);
  });

  test('PolynomialLR reaches exactly 0 at totalIters and stays there', () => {
    const opt = sgd();
    const s = new PolynomialLR(opt, { totalIters: 3 });
    for (let i = 0; i < 5; i++) s.step();
    expect(lrs(opt)).toEqual([0, 0]);
  });

  test('lastEpoch resumes from the initialLr of a previous run', () => {
    const opt = sgd();
    new StepLR(opt, { stepSize: 2, gamma: 0.5 });
    const resumed = new StepLR(opt, { stepSize: 2, gamma: 0.5, lastEpoch: 3 });
    expect(resumed.lastEpoch).toBe(4);
    expect(resumed.getLastLr()).toEqual([0.05, 0.005]);
  });
});
