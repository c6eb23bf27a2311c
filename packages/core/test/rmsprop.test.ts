import { InvalidOptionError, Parameter } from '@opt/tensor';
import { RMSprop } from '../src/index';
import { describeFixtureReplay } from './helpers/fixtures';

describeFixtureReplay('optim/rmsprop.json', (groups, options) => new RMSprop(groups, options));

describe('RMSprop', () => {
  test('the first step divides by sqrt((1 − α)·g²) + eps, eps outside the root', () => {
    const p = new Parameter(new Float64Array([1]), [1]);
    const opt = new RMSprop([p], { lr: 0.01 });
    p.grad = new Float64Array([2]);
    opt.step();
    expect(p.data[0]).toBeCloseTo(1 - (0.01 * 2) / (Math.sqrt(0.01 * 4) + 1e-8), 15);
  });

  test('centered RMSprop subtracts the squared mean gradient; momentum accumulates g/avg', () => {
    const p = new Parameter(new Float64Array([1]), [1]);
    const opt = new RMSprop([p], { lr: 0.01, alpha: 0.9, centered: true, momentum: 0.5 });
    p.grad = new Float64Array([2]);
    opt.step();
    const avg1 = Math.sqrt(0.1 * 4 - 0.2 * 0.2) + 1e-8;
    const buf1 = 2 / avg1;
    expect(p.data[0]).toBeCloseTo(1 - 0.01 * buf1, 15);
    p.grad = new Float64Array([2]);
    opt.step();
    const sq2 = 0.9 * 0.4 + 0.1 * 4;
    const ga2 = 0.9 * 0.2 + 0.1 * 2;
    const buf2 = 0.5 * buf1 + 2 / (Math.sqrt(sq2 - ga2 * ga2) + 1e-8);
    expect(opt.state.get(p)!.momentum_buffer).toBeInstanceOf(Float64Array);
    expect((opt.state.get(p)!.momentum_buffer as Float64Array)[0]).toBeCloseTo(buf2, 12);
    expect(p.data[0]).toBeCloseTo(1 - 0.01 * buf1 - 0.01 * buf2, 14);
  });

  test('state keys follow the options as PyTorch keys them', () => {
    const keys = (options: { momentum?: number; centered?: boolean }): string[] => {
      const p = Parameter.zeros([2], 'float64');
      const opt = new RMSprop([p], options);
      p.grad = new Float64Array([1, 1]);
      opt.step();
      return Object.keys(opt.stateDict().state['0']!).sort();
    };
    expect(keys({})).toEqual(['square_avg', 'step']);
    expect(keys({ momentum: 0.9 })).toEqual(['momentum_buffer', 'square_avg', 'step']);
    expect(keys({ centered: true })).toEqual(['grad_avg', 'square_avg', 'step']);
    expect(keys({ momentum: 0.9, centered: true })).toEqual(['grad_avg', 'momentum_buffer', 'square_avg', 'step']);
  });

  test('a state dict round-trips into a fresh optimizer with momentum and centering', () => {
    const make = (): [Parameter, RMSprop] => {
      const p = new Parameter(new Float32Array([1, -1]), [2], 'w');
      return [p, new RMSprop([p], { momentum: 0.9, centered: true })];
    };
    const [p, opt] = make();
    p.grad = new Float32Array([0.5, 2]);
    opt.step();
    const [q, fresh] = make();
    fresh.loadStateDict(JSON.parse(JSON.stringify(opt.stateDict())) as Record<string, unknown>);
    q.data.set(p.data);
    p.grad = new Float32Array([1, -1]);
    q.grad = new Float32Array([1, -1]);
    opt.step();
    fresh.step();
    expect(Array.from(q.data)).toEqual(Array.from(p.data));
  });

  test('rejects alpha outside [0, 1] and negative momentum, naming the option', () => {
    const p = Parameter.zeros([2]);
    expect(() => new RMSprop([p], { alpha: 1.5 })).toThrow(InvalidOptionError);
    expect(() => new RMSprop([p], { alpha: 1.5 })).toThrow(/RMSprop: invalid alpha/);
    expect(() => new RMSprop([p], { momentum: -0.1 })).toThrow(/invalid momentum/);
    expect(() => new RMSprop([p], { eps: 0 })).toThrow(/invalid eps/);
  });
});
