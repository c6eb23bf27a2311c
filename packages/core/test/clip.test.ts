import { InvalidOptionError, NonFiniteError, Parameter } from '@opt/tensor';
import { clipGradNorm, clipGradValue } from '../src/index';
import { FIXTURE_DIR, RTOL, report, scaledError } from './helpers/fixtures';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

interface TensorJson {
  dtype: 'float32' | 'float64';
  shape: number[];
  data: number[];
}

interface ClipCase {
  id: string;
  fn: 'clip_grad_norm_' | 'clip_grad_value_';
  dtype: 'float32' | 'float64';
  single_tensor: boolean;
  args: { max_norm?: number; norm_type?: number | 'inf'; clip_value?: number };
  grads_in: Array<TensorJson | null>;
  grads_out: Array<TensorJson | null>;
  total_norm?: number;
}

const fixture = JSON.parse(readFileSync(join(FIXTURE_DIR, 'clip_grad', 'clip_grad.json'), 'utf8')) as { cases: ClipCase[] };

function paramsFor(c: ClipCase): Parameter[] {
  return c.grads_in.map((g, i) => {
    const shape = g?.shape ?? c.grads_out[i]?.shape ?? [1];
    const p = Parameter.zeros(shape, c.dtype, `p${i}`);
    if (g !== null) p.grad = c.dtype === 'float64' ? Float64Array.from(g.data) : Float32Array.from(g.data);
    return p;
  });
}

describe('clip_grad/clip_grad.json: replays PyTorch 1.13 clip_grad_norm_ / clip_grad_value_', () => {
  test('the fixture holds the cases the replay expects', () => {
    expect(fixture.cases.length).toBe(13);
    expect(fixture.cases.filter((c) => c.single_tensor).map((c) => c.id)).toEqual(['clip_grad/norm2_single_tensor']);
  });

  for (const c of fixture.cases) {
    test(`${c.id} matches PyTorch within ${RTOL[c.dtype]} (gradients out${c.fn === 'clip_grad_norm_' ? ', total norm' : ''})`, () => {
      const params = paramsFor(c);
      const target = c.single_tensor ? params[0]! : params;
      let normError = 0;
      if (c.fn === 'clip_grad_norm_') {
        const normType = c.args.norm_type === 'inf' ? Infinity : c.args.norm_type!;
        const total = clipGradNorm(target, c.args.max_norm!, normType);
        normError = Math.abs(total - c.total_norm!) / Math.abs(c.total_norm!);
      } else {
        clipGradValue(target, c.args.clip_value!);
      }
      let paramError = 0;
      params.forEach((p, i) => {
        const expected = c.grads_out[i];
        if (expected === null || expected === undefined) {
          expect(p.grad).toBeNull();
        } else {
          paramError = Math.max(paramError, scaledError(p.grad!, expected.data));
        }
      });
      report('clip_grad/clip_grad.json', { id: c.id, dtype: c.dtype, paramError, stateError: normError });
      expect(paramError).toBeLessThanOrEqual(RTOL[c.dtype]);
      expect(normError).toBeLessThanOrEqual(RTOL[c.dtype]);
    });
  }
});

function param(values: number[], name = 'w', shape?: number[]): Parameter {
  const p = new Parameter(new Float64Array(values.length), shape ?? [values.length], name);
  p.grad = Float64Array.from(values);
  return p;
}

describe('clipGradNorm', () => {
  test('the total 2-norm is over every gradient; grads are scaled by maxNorm/(total + 1e-6)', () => {
    const a = param([3, 0], 'a');
    const b = param([0, 4], 'b');
    const total = clipGradNorm([a, b], 1);
    expect(total).toBe(5);
    const coef = 1 / (5 + 1e-6);
    expect(Array.from(a.grad!)).toEqual([3 * coef, 0]);
    expect(Array.from(b.grad!)).toEqual([0, 4 * coef]);
  });

  test('maxNorm equal to the total still scales by total/(total + 1e-6), as PyTorch', () => {
    const a = param([3, 4]);
    expect(clipGradNorm(a, 5)).toBe(5);
    expect(a.grad![0]).toBe(3 * (5 / (5 + 1e-6)));
  });

  test('below maxNorm the coefficient is clamped to 1 (gradients unchanged)', () => {
    const a = param([0.3, -0.4]);
    expect(clipGradNorm(a, 10)).toBeCloseTo(0.5, 15);
    expect(Array.from(a.grad!)).toEqual([0.3, -0.4]);
  });

  test('p = 1, p = 3 and p = Infinity combine per-tensor norms with the same p', () => {
    expect(clipGradNorm([param([1, -2]), param([3])], 100, 1)).toBe(6);
    const t3 = clipGradNorm([param([1, -2]), param([3])], 100, 3);
    expect(t3).toBeCloseTo((1 + 8 + 27) ** (1 / 3), 14);
    const a = param([1, -7]);
    const b = param([3]);
    expect(clipGradNorm([a, b], 3.5, Infinity)).toBe(7);
    expect(a.grad![1]).toBeCloseTo(-7 * (3.5 / (7 + 1e-6)), 15);
  });

  test('parameters without a gradient are ignored; none at all gives 0 and touches nothing', () => {
    const a = param([3, 4]);
    const none = new Parameter(new Float64Array(2), [2], 'none');
    expect(clipGradNorm([none, a], 1)).toBe(5);
    expect(none.grad).toBeNull();
    expect(clipGradNorm([none], 1)).toBe(0);
    expect(clipGradNorm([], 1)).toBe(0);
  });

  test('accepts a one-shot generator of parameters', () => {
    const a = param([6, 8]);
    function* gen(): Generator<Parameter> {
      yield a;
    }
    expect(clipGradNorm(gen(), 5)).toBe(10);
    expect(a.grad![0]).toBeCloseTo(6 * (5 / (10 + 1e-6)), 15);
  });

  test('maxNorm = Infinity only measures the norm', () => {
    const a = param([3, 4]);
    expect(clipGradNorm(a, Infinity)).toBe(5);
    expect(Array.from(a.grad!)).toEqual([3, 4]);
  });

  test('a negative or NaN maxNorm, or a negative normType, throws InvalidOptionError naming the option', () => {
    const a = param([1]);
    expect(() => clipGradNorm(a, -1)).toThrow(InvalidOptionError);
    expect(() => clipGradNorm(a, -1)).toThrow(/maxNorm/);
    expect(() => clipGradNorm(a, NaN)).toThrow(InvalidOptionError);
    expect(() => clipGradNorm(a, 1, -2)).toThrow(/normType/);
    expect(a.grad![0]).toBe(1);
  });

  test('a NaN gradient propagates NaN by default (errorIfNonfinite false, as PyTorch)', () => {
    const a = param([1, NaN]);
    const b = param([2]);
    expect(clipGradNorm([a, b], 1)).toBeNaN();
    expect(b.grad![0]).toBeNaN();
  });

  test('errorIfNonfinite throws NonFiniteError naming the parameter and leaves every gradient untouched', () => {
    const a = param([1, 2], 'layer.weight');
    const b = param([0, Infinity, 3], 'layer.bias');
    let error: unknown;
    try {
      clipGradNorm([a, b], 1, 2, { errorIfNonfinite: true });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(NonFiniteError);
    expect((error as NonFiniteError).parameter).toBe('layer.bias');
    expect((error as NonFiniteError).index).toBe(1);
    expect(Array.from(a.grad!)).toEqual([1, 2]);
    expect(Array.from(b.grad!)).toEqual([0, Infinity, 3]);
  });

  test('errorIfNonfinite also catches an overflowing norm of finite gradients', () => {
    const a = param([1e300, 1e300], 'big');
    expect(() => clipGradNorm([a], 1, 2, { errorIfNonfinite: true })).toThrow(/big.*overflow|overflow.*big/);
    expect(a.grad![0]).toBe(1e300);
    // with a finite total the option changes nothing
    const b = param([3, 4]);
    expect(clipGradNorm(b, 1, 2, { errorIfNonfinite: true })).toBe(5);
  });

  test('float32 gradients are scaled in place and stay Float32Array', () => {
    const p = Parameter.zeros([2], 'float32', 'w');
    const g = new Float32Array([3, 4]);
    p.grad = g;
    clipGradNorm(p, 1);
    expect(p.grad).toBe(g);
    expect(g[0]).toBe(Math.fround(3 / (5 + 1e-6)));
  });
});

describe('clipGradValue', () => {
  test('clamps each element to [-clipValue, clipValue]; NaN stays NaN', () => {
    const a = param([-3, 0.05, 2, NaN, -0.1]);
    clipGradValue(a, 0.1);
    expect(Array.from(a.grad!)).toEqual([-0.1, 0.05, 0.1, NaN, -0.1]);
  });

  test('ignores parameters without a gradient and rejects a negative clipValue', () => {
    const none = new Parameter(new Float64Array(1), [1]);
    clipGradValue([none], 1);
    expect(none.grad).toBeNull();
    expect(() => clipGradValue([param([1])], -0.5)).toThrow(InvalidOptionError);
    expect(() => clipGradValue([param([1])], -0.5)).toThrow(/clipValue/);
  });
});
