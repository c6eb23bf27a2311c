import { Adam, InvalidOptionError, Parameter, SGD } from '@opt/core';
import { OneCycleLR } from '../src/index';
import { describeFixtureReplay } from './helpers/fixtures';

describeFixtureReplay('schedulers/onecyclelr.json');

describe('OneCycleLR', () => {
  test('starts at maxLr/divFactor, peaks at pctStart·total − 1, ends near maxLr/(div·finalDiv)', () => {
    const opt = new SGD([new Parameter(new Float64Array([1]))], { lr: 0.5, momentum: 0.9 });
    const s = new OneCycleLR(opt, { maxLr: 1, totalSteps: 11, pctStart: 0.5, divFactor: 10, finalDivFactor: 100 });
    expect(opt.paramGroups[0]!.lr).toBeCloseTo(0.1, 16);
    expect(opt.paramGroups[0]!.momentum).toBeCloseTo(0.95, 16);
    const lrs: number[] = [];
    for (let i = 0; i < 10; i++) {
      s.step();
      lrs.push(opt.paramGroups[0]!.lr);
    }
    // Phase 1 ends at 0.5·11 − 1 = 4.5, so the peak is not hit exactly; the last step (e = 10 = total − 1) is min_lr.
    expect(Math.max(...lrs)).toBeLessThan(1);
    expect(lrs[9]).toBeCloseTo(0.001, 15);
  });

  test('cycles betas[0] of Adam with a fresh tuple, leaving betas[1] alone', () => {
    const opt = new Adam(
      [{ params: [new Parameter(new Float64Array([1]))] }, { params: [new Parameter(new Float64Array([1]))] }],
      { lr: 1e-3, betas: [0.9, 0.99] },
    );
    const defaultsBetas = opt.defaults.betas;
    const s = new OneCycleLR(opt, { maxLr: 1e-2, totalSteps: 10 });
    s.step();
    expect(opt.paramGroups[0]!.betas[1]).toBe(0.99);
    expect(opt.paramGroups[0]!.betas[0]).toBeLessThan(0.95);
    expect(opt.defaults.betas).toBe(defaultsBetas);
    expect([...opt.defaults.betas]).toEqual([0.9, 0.99]);
  });

  test('may be stepped exactly totalSteps times; one more throws naming totalSteps without changing anything', () => {
    const opt = new SGD([new Parameter(new Float64Array([1]))], { lr: 0.5, momentum: 0.9 });
    const s = new OneCycleLR(opt, { maxLr: 1, totalSteps: 5 });
    for (let i = 0; i < 5; i++) s.step();
    const before = opt.paramGroups[0]!.lr;
    let error: unknown;
    try {
      s.step();
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect((error as InvalidOptionError).option).toBe('totalSteps');
    expect(s.lastEpoch).toBe(5);
    expect(opt.paramGroups[0]!.lr).toBe(before);
  });

  test('epochs × stepsPerEpoch gives totalSteps', () => {
    const opt = new SGD([new Parameter(new Float64Array([1]))], { lr: 0.5, momentum: 0.9 });
    expect(new OneCycleLR(opt, { maxLr: 1, epochs: 3, stepsPerEpoch: 7 }).totalSteps).toBe(21);
  });
});
