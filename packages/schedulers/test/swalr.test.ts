import { InvalidOptionError, Parameter, SGD } from '@opt/core';
import { CosineAnnealingLR, SWALR } from '../src/index';
import { describeFixtureReplay } from './helpers/fixtures';

describeFixtureReplay('swalr.json');

function sgd(lr = 0.1): SGD {
  return new SGD([new Parameter(new Float64Array([1]))], { lr, momentum: 0.9 });
}

describe('SWALR', () => {
  test('construction leaves the lr alone unless annealEpochs is 0', () => {
    const a = sgd();
    new SWALR(a, { swaLr: 0.05, annealEpochs: 3 });
    expect(a.paramGroups[0]!.lr).toBe(0.1);
    const b = sgd();
    new SWALR(b, { swaLr: 0.05, annealEpochs: 0 });
    expect(b.paramGroups[0]!.lr).toBe(0.05);
  });

  test('linear anneal reaches swaLr after annealEpochs steps and holds it', () => {
    const opt = sgd();
    const s = new SWALR(opt, { swaLr: 0.02, annealEpochs: 4, annealStrategy: 'linear' });
    const seen: number[] = [];
    for (let i = 0; i < 6; i++) {
      s.step();
      seen.push(opt.paramGroups[0]!.lr);
    }
    [0.08, 0.06, 0.04, 0.02, 0.02, 0.02].forEach((v, i) => expect(seen[i]).toBeCloseTo(v, 15));
  });

  test('anneals from whatever lr another scheduler left', () => {
    const opt = sgd();
    const cosine = new CosineAnnealingLR(opt, { tMax: 10 });
    const swa = new SWALR(opt, { swaLr: 0.01, annealEpochs: 2, annealStrategy: 'linear' });
    for (let i = 0; i < 5; i++) cosine.step();
    const from = opt.paramGroups[0]!.lr;
    swa.step();
    expect(opt.paramGroups[0]!.lr).toBeCloseTo((from + 0.01) / 2, 15);
  });

  test('rejects a negative annealEpochs and an unknown strategy', () => {
    expect(() => new SWALR(sgd(), { swaLr: 0.1, annealEpochs: -1 })).toThrow(InvalidOptionError);
    expect(() => new SWALR(sgd(), { swaLr: 0.1, annealStrategy: 'exp' as 'cos' })).toThrow(/annealStrategy/);
  });
});
