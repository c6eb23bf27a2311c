import { InvalidOptionError, Parameter } from '@opt/tensor';
import { Rprop } from '../src/index';
import { describeFixtureReplay } from './helpers/fixtures';

describeFixtureReplay('optim/rprop.json', (groups, options) => new Rprop(groups, options));

describe('Rprop', () => {
  test('step sizes grow by etaplus on sign agreement, shrink by etaminus on a sign change (no move), then stay', () => {
    const p = new Parameter(new Float64Array([0]), [1]);
    const opt = new Rprop([p], { lr: 0.1, etas: [0.5, 1.2] });
    const s = opt.state.get(p);
    expect(s).toBeUndefined();
    p.grad = new Float64Array([1]);
    opt.step(); // prev = 0: factor 1, move −0.1
    expect(p.data[0]).toBeCloseTo(-0.1, 15);
    p.grad = new Float64Array([2]);
    opt.step(); // agreement: 0.12, move −0.12
    expect(opt.state.get(p)!.step_size[0]).toBeCloseTo(0.12, 15);
    expect(p.data[0]).toBeCloseTo(-0.22, 15);
    p.grad = new Float64Array([-3]);
    opt.step(); // sign change: 0.06, gradient zeroed, no move
    expect(opt.state.get(p)!.step_size[0]).toBeCloseTo(0.06, 15);
    expect(opt.state.get(p)!.prev[0]).toBe(0);
    expect(p.data[0]).toBeCloseTo(-0.22, 15);
    p.grad = new Float64Array([-3]);
    opt.step(); // prev = 0 again: size unchanged, move +0.06
    expect(opt.state.get(p)!.step_size[0]).toBeCloseTo(0.06, 15);
    expect(p.data[0]).toBeCloseTo(-0.16, 15);
    expect(opt.state.get(p)!.step).toBe(4);
  });

  test('the step-size clamp applies from the first step (an lr above the maximum is clamped at once)', () => {
    const p = new Parameter(new Float64Array([1, 1]), [2]);
    const opt = new Rprop([p], { lr: 0.5, stepSizes: [1e-3, 0.2] });
    p.grad = new Float64Array([1, 0]);
    opt.step();
    expect(Array.from(opt.state.get(p)!.step_size)).toEqual([0.2, 0.2]);
    expect(Array.from(p.data)).toEqual([0.8, 1]); // a zero gradient does not move
  });

  test('float32 step sizes are multiplied by the float32-rounded eta, as PyTorch does', () => {
    const p = new Parameter(new Float32Array([0]), [1]);
    const opt = new Rprop([p], { lr: 0.01, etas: [0.3, 1.3] });
    p.grad = new Float32Array([1]);
    opt.step();
    p.grad = new Float32Array([1]);
    opt.step();
    expect(opt.state.get(p)!.step_size[0]).toBe(Math.fround(Math.fround(0.01) * Math.fround(1.3)));
  });

  test('maximize negates the gradient, and prev stores the negated gradient', () => {
    const p = new Parameter(new Float64Array([0, 0]), [2]);
    const opt = new Rprop([p], { maximize: true, lr: 0.1 });
    p.grad = new Float64Array([1, -1]);
    opt.step();
    expect(Array.from(p.data)).toEqual([0.1, -0.1]);
    expect(Array.from(opt.state.get(p)!.prev)).toEqual([-1, 1]);
  });

  test('invalid options throw InvalidOptionError naming the option', () => {
    const p = Parameter.zeros([2]);
    expect(() => new Rprop([p], { lr: -1 })).toThrow(InvalidOptionError);
    expect(() => new Rprop([p], { lr: -1 })).toThrow(/lr/);
    expect(() => new Rprop([p], { etas: [0, 1.2] })).toThrow(/etas\[0\]/);
    expect(() => new Rprop([p], { etas: [1, 1.2] })).toThrow(/etas\[0\]/);
    expect(() => new Rprop([p], { etas: [0.5, 1] })).toThrow(/etas\[1\]/);
    expect(() => new Rprop([p], { etas: [0.5] as never })).toThrow(/etas/);
    expect(() => new Rprop([p], { stepSizes: [-1, 50] })).toThrow(/stepSizes\[0\]/);
    expect(() => new Rprop([p], { stepSizes: [1e-6, 0] })).toThrow(/stepSizes\[1\]/);
    expect(() => new Rprop([p], { stepSizes: [1, 0.5] })).toThrow(/stepSizes/);
    expect(() => new Rprop([p], { maximize: null as never })).toThrow(/maximize/);
  });
});
