import { InvalidOptionError } from '@opt/tensor';
import { lossTerm, resolveLossOptions } from '../src/meta/index';

describe('meta-loss options', () => {
  test('the default floor only guards log(0): a relative loss of 1e-6 counts as log(1e-6)', () => {
    const options = resolveLossOptions('test', {});
    expect(options.lossFloor).toBe(1e-10);
    expect(lossTerm(1e-6, options)).toBeCloseTo(Math.log(1e-6), 12);
    expect(lossTerm(0, options)).toBeCloseTo(Math.log(1e-10), 12);
  });

  test('lossFloor stops rewarding a run below the floor, and lossClip caps one above the clip', () => {
    const options = resolveLossOptions('test', { lossFloor: 1e-4, lossClip: 5 });
    expect(lossTerm(1e-6, options)).toBe(Math.log(1e-4));
    expect(lossTerm(1e-3, options)).toBe(Math.log(1e-3));
    expect(lossTerm(50, options)).toBe(Math.log(5));
    const normalized = resolveLossOptions('test', { metaLoss: 'normalized', lossFloor: 0.01 });
    expect(lossTerm(0.001, normalized)).toBe(0.01);
  });

  test.each([0, 1, -1e-3, NaN, Infinity])('lossFloor %p is refused with a typed error naming the option', (floor) => {
    expect(() => resolveLossOptions('UnrollObjective', { lossFloor: floor })).toThrow(InvalidOptionError);
    expect(() => resolveLossOptions('UnrollObjective', { lossFloor: floor })).toThrow(/lossFloor/);
  });
});
