import { Parameter, SGD } from '@opt/core';
import { CosineAnnealingLR, CosineAnnealingWarmRestarts } from '../src/index';
import { describeFixtureReplay } from './helpers/fixtures';

describeFixtureReplay('schedulers/cosineannealinglr.json');
describeFixtureReplay('schedulers/cosineannealingwarmrestarts.json');

function sgd(lr = 0.1): SGD {
  return new SGD([new Parameter(new Float64Array([1]))], { lr });
}

describe('CosineAnnealingLR', () => {
  test('the recursive form agrees with the closed form over two periods', () => {
    const opt = sgd();
    const s = new CosineAnnealingLR(opt, { tMax: 10, etaMin: 0.01 });
    for (let e = 1; e <= 40; e++) {
      s.step();
      const closed = 0.01 + ((0.1 - 0.01) * (1 + Math.cos((Math.PI * e) / 10))) / 2;
      expect(Math.abs(opt.paramGroups[0]!.lr - closed)).toBeLessThan(1e-14);
    }
  });

  test('past tMax the lr rises again (period 2·tMax)', () => {
    const opt = sgd();
    const s = new CosineAnnealingLR(opt, { tMax: 4 });
    for (let e = 0; e < 4; e++) s.step();
    expect(opt.paramGroups[0]!.lr).toBeLessThan(1e-17);
    for (let e = 0; e < 4; e++) s.step();
    expect(opt.paramGroups[0]!.lr).toBeCloseTo(0.1, 15);
  });

  test('step(epoch) jumps with the closed form', () => {
    const opt = sgd();
    const s = new CosineAnnealingLR(opt, { tMax: 10 });
    s.step(5);
    expect(opt.paramGroups[0]!.lr).toBeCloseTo(0.05, 15);
  });
});

describe('CosineAnnealingWarmRestarts', () => {
  test('restarts at t0, then every t0·tMult^k epochs', () => {
    const opt = sgd();
    const s = new CosineAnnealingWarmRestarts(opt, { t0: 2, tMult: 2 });
    const seen: number[] = [opt.paramGroups[0]!.lr];
    for (let i = 0; i < 7; i++) {
      s.step();
      seen.push(opt.paramGroups[0]!.lr);
    }
    // Restarts (lr back to base) at epochs 0, 2, 6.
    expect([0, 2, 6].map((e) => seen[e])).toEqual([0.1, 0.1, 0.1]);
    expect(s.tI).toBe(8);
    expect(s.tCur).toBe(1);
  });

  test('fractional step(epoch) finds the period and the position in it', () => {
    const opt = sgd();
    const s = new CosineAnnealingWarmRestarts(opt, { t0: 5, tMult: 2, etaMin: 0.001 });
    s.step(7.5); // periods [0,5), [5,15): T_i = 10, T_cur = 2.5
    expect(s.tI).toBe(10);
    expect(s.tCur).toBe(2.5);
    expect(s.lastEpoch).toBe(7);
    const expected = 0.001 + ((0.1 - 0.001) * (1 + Math.cos((Math.PI * 2.5) / 10))) / 2;
    expect(opt.paramGroups[0]!.lr).toBeCloseTo(expected, 15);
    // Exactly at a restart the period index is the mathematically exact one.
    s.step(15);
    expect(s.tI).toBe(20);
    expect(s.tCur).toBe(0);
    s.step(75); // restarts at 5, 15, 35, 75
    expect(s.tI).toBe(80);
    expect(s.tCur).toBe(0);
  });

  test('tMult = 1 uses the epoch modulo t0', () => {
    const opt = sgd();
    const s = new CosineAnnealingWarmRestarts(opt, { t0: 4 });
    s.step(9.5);
    expect(s.tCur).toBe(1.5);
    expect(s.tI).toBe(4);
  });
});
