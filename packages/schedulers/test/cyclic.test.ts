import { Adam, InvalidOptionError, Parameter, SGD } from '@opt/core';
import { CyclicLR } from '../src/index';
import { describeFixtureReplay } from './helpers/fixtures';

describeFixtureReplay('schedulers/cycliclr.json');

function sgd(): SGD {
  return new SGD([new Parameter(new Float64Array([1]))], { lr: 1, momentum: 0.5 });
}

describe('CyclicLR', () => {
  test('construction moves lr to baseLr and momentum to maxMomentum', () => {
    const opt = sgd();
    new CyclicLR(opt, { baseLr: 0.01, maxLr: 0.1, stepSizeUp: 4 });
    expect(opt.paramGroups[0]!.lr).toBe(0.01);
    expect(opt.paramGroups[0]!.momentum).toBe(0.9);
  });

  test('triangular: peak at stepSizeUp, back to base after stepSizeDown, momentum inverse', () => {
    const opt = sgd();
    const s = new CyclicLR(opt, { baseLr: 0.1, maxLr: 0.5, stepSizeUp: 2, stepSizeDown: 4 });
    const lr: number[] = [];
    const mom: number[] = [];
    for (let i = 0; i < 6; i++) {
      s.step();
      lr.push(opt.paramGroups[0]!.lr);
      mom.push(opt.paramGroups[0]!.momentum);
    }
    const expected = [0.3, 0.5, 0.4, 0.3, 0.2, 0.1];
    lr.forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 15));
    expect(mom[1]).toBeCloseTo(0.8, 15);
    expect(mom[5]).toBeCloseTo(0.9, 15);
  });

  test('triangular2 halves the amplitude every cycle', () => {
    const opt = sgd();
    const s = new CyclicLR(opt, { baseLr: 0, maxLr: 1, stepSizeUp: 1, mode: 'triangular2', cycleMomentum: false });
    const peaks: number[] = [];
    for (let i = 0; i < 6; i++) {
      s.step();
      if (i % 2 === 0) peaks.push(opt.paramGroups[0]!.lr);
    }
    expect(peaks).toEqual([1, 0.5, 0.25]);
  });

  test('a custom scaleFn by iteration replaces the mode', () => {
    const opt = sgd();
    const s = new CyclicLR(opt, { baseLr: 0, maxLr: 1, stepSizeUp: 1, scaleFn: (x) => 1 / (x + 1), scaleMode: 'iterations', cycleMomentum: false });
    s.step(); // e = 1: scale 1 (peak), f = 1/2
    expect(opt.paramGroups[0]!.lr).toBe(0.5);
    s.step(); s.step(); // e = 3: peak again, f = 1/4
    expect(opt.paramGroups[0]!.lr).toBe(0.25);
  });

  test('cycleMomentum with Adam throws as PyTorch 1.13 does', () => {
    const opt = new Adam([new Parameter(new Float64Array([1]))], { lr: 1e-3 });
    expect(() => new CyclicLR(opt, { baseLr: 1e-4, maxLr: 1e-3 })).toThrow(InvalidOptionError);
    expect(() => new CyclicLR(opt, { baseLr: 1e-4, maxLr: 1e-3 })).toThrow(/cycleMomentum/);
    expect(() => new CyclicLR(opt, { baseLr: 1e-4, maxLr: 1e-3, cycleMomentum: false })).not.toThrow();
  });
});
