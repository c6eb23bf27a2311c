import { InvalidOptionError, Parameter, ShapeMismatchError } from '@opt/tensor';
import {
  type Objective,
  checkGradient,
  checkHessian,
  finiteDifferenceGradient,
  finiteDifferenceHessian,
  flattenGrads,
  maxRelativeError,
  numParameters,
  paramsInfo,
} from '../src/objective';

/**
 * f(u, v) = Σ u_i³ + (Σ u_i)·v₀ + sin(v₁)·v₀², over a [3]-shaped u and a [2]-shaped v
 * (two parameters, so flattening order and offsets matter).
 */
class TwoParameterObjective implements Objective {
  readonly u: Parameter;
  readonly v: Parameter;
  readonly parameters: Parameter[];
  /** Scale applied to the reported gradient of u[1] (1: exact), to plant a bug. */
  gradientBug = 1;

  constructor(dtype: 'float32' | 'float64' = 'float64') {
    this.u = Parameter.from([0.3, -0.7, 1.1], { dtype, name: 'u' });
    this.v = Parameter.from([0.5, 0.9], { dtype, name: 'v', shape: [2, 1] });
    this.parameters = [this.u, this.v];
  }

  loss(): number {
    const [u0, u1, u2] = this.u.data as unknown as number[];
    const [v0, v1] = this.v.data as unknown as number[];
    return u0! ** 3 + u1! ** 3 + u2! ** 3 + (u0! + u1! + u2!) * v0! + Math.sin(v1!) * v0! * v0!;
  }

  lossAndGrad(): number {
    const u = this.u.data;
    const [v0, v1] = this.v.data as unknown as number[];
    const gu = this.u.ensureGrad();
    for (let i = 0; i < 3; i++) gu[i] = 3 * u[i]! * u[i]! + v0!;
    gu[1] = gu[1]! * this.gradientBug;
    const gv = this.v.ensureGrad();
    gv[0] = u[0]! + u[1]! + u[2]! + 2 * Math.sin(v1!) * v0!;
    gv[1] = Math.cos(v1!) * v0! * v0!;
    return this.loss();
  }

  hessian(out: Float64Array): void {
    const u = this.u.data;
    const [v0, v1] = this.v.data as unknown as number[];
    out.fill(0);
    for (let i = 0; i < 3; i++) {
      out[i * 5 + i] = 6 * u[i]!;
      out[i * 5 + 3] = 1;
      out[3 * 5 + i] = 1;
    }
    out[3 * 5 + 3] = 2 * Math.sin(v1!);
    out[3 * 5 + 4] = 2 * Math.cos(v1!) * v0!;
    out[4 * 5 + 3] = 2 * Math.cos(v1!) * v0!;
    out[4 * 5 + 4] = -Math.sin(v1!) * v0! * v0!;
  }
}

describe('parameter helpers', () => {
  test('numParameters counts the scalars of a list or of an objective', () => {
    const f = new TwoParameterObjective();
    expect(numParameters(f)).toBe(5);
    expect(numParameters(f.parameters)).toBe(5);
    expect(numParameters([])).toBe(0);
  });

  test('paramsInfo reports shapes, names, count and dtype in order', () => {
    const info = paramsInfo(new TwoParameterObjective('float32'));
    expect(info).toEqual({ count: 5, shapes: [[3], [2, 1]], names: ['u', 'v'], dtype: 'float32' });
  });

  test('flattenGrads concatenates gradients in parameter order and zero-fills a missing one', () => {
    const f = new TwoParameterObjective();
    f.u.grad = new Float64Array([1, 2, 3]);
    const flat = flattenGrads(f);
    expect(Array.from(flat)).toEqual([1, 2, 3, 0, 0]);
    expect(flat).toBeInstanceOf(Float64Array);
    f.v.grad = new Float64Array([4, 5]);
    const out = new Float64Array(6).fill(-1);
    expect(flattenGrads(f.parameters, out)).toBe(out);
    expect(Array.from(out)).toEqual([1, 2, 3, 4, 5, -1]);
  });

  test('flattenGrads allocates in the parameters dtype and rejects a short out buffer', () => {
    const f = new TwoParameterObjective('float32');
    expect(flattenGrads(f)).toBeInstanceOf(Float32Array);
    expect(() => flattenGrads(f, new Float64Array(4))).toThrow(ShapeMismatchError);
  });
});

describe('maxRelativeError', () => {
  test('is the largest absolute difference over the larger infinity norm', () => {
    expect(maxRelativeError([1, 100], [1.5, 100])).toBeCloseTo(0.5 / 100, 15);
    expect(maxRelativeError([0, 0], [0, 0])).toBe(0);
  });

  test('becomes absolute below the floor, and NaN propagates', () => {
    expect(maxRelativeError([1e-12], [3e-12], 1e-6)).toBeCloseTo(2e-12 / 1e-6, 12);
    expect(maxRelativeError([1, NaN], [1, 2])).toBeNaN();
    expect(() => maxRelativeError([1], [1, 2])).toThrow(ShapeMismatchError);
  });
});

describe('finite differences', () => {
  test('the central-difference gradient matches the analytic gradient over two parameters', () => {
    const f = new TwoParameterObjective();
    f.lossAndGrad();
    const analytic = flattenGrads(f);
    const estimate = finiteDifferenceGradient(f);
    expect(maxRelativeError(analytic, estimate)).toBeLessThan(1e-9);
    expect(checkGradient(f)).toBeLessThan(1e-9);
  });

  test('checkGradient exposes a wrong gradient component', () => {
    const f = new TwoParameterObjective();
    f.gradientBug = 1.01;
    expect(checkGradient(f)).toBeGreaterThan(1e-3);
  });

  test('probing restores every parameter bit for bit and leaves the analytic gradient', () => {
    const f = new TwoParameterObjective();
    const before = [Float64Array.from(f.u.data), Float64Array.from(f.v.data)];
    checkGradient(f);
    expect(Array.from(f.u.data)).toEqual(Array.from(before[0]!));
    expect(Array.from(f.v.data)).toEqual(Array.from(before[1]!));
    const g = Float64Array.from(flattenGrads(f));
    f.lossAndGrad();
    expect(Array.from(flattenGrads(f))).toEqual(Array.from(g));
  });

  test('indices restrict the probe to the chosen coordinates', () => {
    const f = new TwoParameterObjective();
    const calls = { n: 0 };
    const loss = f.loss.bind(f);
    f.loss = () => {
      calls.n++;
      return loss();
    };
    const estimate = finiteDifferenceGradient(f, { indices: [4] });
    expect(calls.n).toBe(2);
    expect(estimate[0]).toBe(0);
    expect(estimate[4]).toBeCloseTo(Math.cos(0.9) * 0.25, 9);
    expect(checkGradient(f, { indices: [0, 4] })).toBeLessThan(1e-9);
  });

  test('the finite-difference Hessian of the gradient matches the analytic Hessian', () => {
    const f = new TwoParameterObjective();
    const h = new Float64Array(25);
    f.hessian(h);
    expect(maxRelativeError(h, finiteDifferenceHessian(f))).toBeLessThan(1e-8);
    expect(checkHessian(f)).toBeLessThan(1e-8);
  });

  test('a partial finite-difference Hessian fills only the probed columns and their mirrored rows', () => {
    const f = new TwoParameterObjective();
    const partial = finiteDifferenceHessian(f, { indices: [3] });
    const h = new Float64Array(25);
    f.hessian(h);
    for (let r = 0; r < 5; r++) {
      for (let c = 0; c < 5; c++) {
        const expected = r === 3 || c === 3 ? h[r * 5 + c]! : 0;
        expect(partial[r * 5 + c]).toBeCloseTo(expected, 7);
      }
    }
  });

  test('float32 parameters use the stored step, so the estimate stays accurate at eps = 1e-2', () => {
    const f = new TwoParameterObjective('float32');
    expect(checkGradient(f, { eps: 1e-2 })).toBeLessThan(1e-3);
  });

  test('invalid eps, indices and a Hessian-less objective are rejected with the option named', () => {
    const f = new TwoParameterObjective();
    expect(() => checkGradient(f, { eps: 0 })).toThrow(InvalidOptionError);
    expect(() => finiteDifferenceGradient(f, { indices: [5] })).toThrow(/indices\[0\]/);
    const noHessian: Objective = { parameters: f.parameters, loss: () => f.loss(), lossAndGrad: () => f.lossAndGrad() };
    expect(() => checkHessian(noHessian)).toThrow(InvalidOptionError);
  });
});
