import { InvalidOptionError, Parameter, SGD } from '@opt/core';
import { ReduceLROnPlateau } from '../src/index';
import { describeFixtureReplay } from './helpers/fixtures';

describeFixtureReplay('schedulers/reducelronplateau.json');

function sgd(): SGD {
  return new SGD(
    [
      { params: [new Parameter(new Float64Array([1]))], lr: 0.1 },
      { params: [new Parameter(new Float64Array([1]))], lr: 0.01 },
    ],
    { momentum: 0.9 },
  );
}

describe('ReduceLROnPlateau', () => {
  test('does nothing at construction', () => {
    const opt = sgd();
    const s = new ReduceLROnPlateau(opt);
    expect(opt.paramGroups.map((g) => g.lr)).toEqual([0.1, 0.01]);
    expect(s.best).toBe(Infinity);
    expect(s.getLastLr()).toEqual([0.1, 0.01]);
  });

  test('reduces after more than patience bad epochs, then cools down', () => {
    const opt = sgd();
    const s = new ReduceLROnPlateau(opt, { patience: 1, factor: 0.5, cooldown: 2 });
    s.step(1);
    s.step(1); // bad 1
    expect(opt.paramGroups[0]!.lr).toBe(0.1);
    s.step(1); // bad 2 > patience: reduce
    expect(opt.paramGroups.map((g) => g.lr)).toEqual([0.05, 0.005]);
    expect(s.cooldownCounter).toBe(2);
    s.step(1);
    s.step(1); // cooldown consumed, bad counts reset
    expect(s.numBadEpochs).toBe(0);
    s.step(1);
    s.step(1);
    expect(opt.paramGroups[0]!.lr).toBe(0.025);
  });

  test('minLr per group bounds the reduction and eps blocks tiny ones', () => {
    const opt = sgd();
    const s = new ReduceLROnPlateau(opt, { patience: 0, factor: 0.1, minLr: [0.05, 0.0099999] , eps: 1e-6 });
    s.step(1);
    s.step(1);
    // Group 0 goes to its floor; group 1 would move by 1e-7 < eps: unchanged.
    expect(opt.paramGroups.map((g) => g.lr)).toEqual([0.05, 0.01]);
  });

  test('max mode with an absolute threshold', () => {
    const opt = sgd();
    const s = new ReduceLROnPlateau(opt, { mode: 'max', thresholdMode: 'abs', threshold: 0.1, patience: 0 });
    s.step(0.5);
    expect(s.best).toBe(0.5);
    s.step(0.55); // not better by more than 0.1
    expect(s.best).toBe(0.5);
    expect(opt.paramGroups[0]!.lr).toBeCloseTo(0.01, 17);
  });

  test('a NaN metric throws an InvalidOptionError and changes nothing', () => {
    const opt = sgd();
    const s = new ReduceLROnPlateau(opt);
    s.step(1);
    expect(() => s.step(NaN)).toThrow(InvalidOptionError);
    expect(s.lastEpoch).toBe(1);
    expect(s.numBadEpochs).toBe(0);
  });
});
