import { ClosureRequiredError, InvalidOptionError, NonFiniteError, Parameter, ParamGroupError } from '@opt/tensor';
import { Newton, choleskyFactor, choleskySolve, matVec } from '../src/index';
import {
  closureFor,
  flatValues,
  quadraticGrad,
  quadraticValue,
  randomQuadratic,
  rosenbrock,
  rosenbrockGrad,
  rosenbrockHessian,
  rosenbrockHvp,
} from './helpers/functions';

function solveExactly(A: Float64Array, b: Float64Array, n: number): Float64Array {
  const L = new Float64Array(n * n);
  choleskyFactor(A, n, L);
  const x = new Float64Array(n);
  choleskySolve(L, n, b, x);
  return x;
}

describe('Newton', () => {
  const q = randomQuadratic(5, 11);
  const target = solveExactly(q.A, q.b, 5);

  function quadraticParams(): Parameter[] {
    return [Parameter.from([0.3, -2, 1.5], { dtype: 'float64', name: 'a' }), Parameter.from([4, -1], { dtype: 'float64', name: 'b' })];
  }

  test('one undamped step on ½xᵀAx − bᵀx lands on A⁻¹b (dense Hessian, two parameters)', () => {
    const params = quadraticParams();
    const opt = new Newton(params, { hessian: (_p, out) => out.set(q.A) });
    const loss = opt.step(closureFor(params, (x) => quadraticValue(q, x), (x, g) => quadraticGrad(q, x, g)));
    expect(loss).toBeCloseTo(quadraticValue(q, [0.3, -2, 1.5, 4, -1]), 12);
    const x = flatValues(params);
    for (let i = 0; i < 5; i++) expect(Math.abs(x[i]! - target[i]!)).toBeLessThan(1e-12);
    expect(opt.lastClosureEvals).toBe(1);
    expect(opt.lastStepAccepted).toBe(true);
  });

  test('one undamped step on the quadratic lands on A⁻¹b through Hessian-vector products and CG', () => {
    const params = quadraticParams();
    const opt = new Newton(params, { hvp: (v, out) => matVec(q.A, 5, 5, v, out) });
    opt.step(closureFor(params, (x) => quadraticValue(q, x), (x, g) => quadraticGrad(q, x, g)));
    const x = flatValues(params);
    for (let i = 0; i < 5; i++) expect(Math.abs(x[i]! - target[i]!)).toBeLessThan(1e-9);
  });

  test('a hessian function may return a fresh array instead of filling out', () => {
    const x = new Parameter(new Float64Array([3, 3]), [2], 'x');
    const A = new Float64Array([4, 1, 1, 3]);
    const opt = new Newton([x], { hessian: () => Float64Array.from(A) });
    const quad = { n: 2, A, b: new Float64Array([1, 2]) };
    opt.step(closureFor([x], (v) => quadraticValue(quad, v), (v, g) => quadraticGrad(quad, v, g)));
    expect(x.data[0]).toBeCloseTo(1 / 11, 14);
    expect(x.data[1]).toBeCloseTo(7 / 11, 14);
  });

  test('damping λ shortens the step to −(A + λI)⁻¹g', () => {
    const x = new Parameter(new Float64Array([0, 0]), [2], 'x');
    const quad = { n: 2, A: new Float64Array([2, 0, 0, 4]), b: new Float64Array([2, 4]) };
    const opt = new Newton([x], { damping: 2, hessian: (_p, out) => out.set(quad.A) });
    opt.step(closureFor([x], (v) => quadraticValue(quad, v), (v, g) => quadraticGrad(quad, v, g)));
    // g = −b = (−2, −4); d = (2/(2+2), 4/(4+2))
    expect(x.data[0]).toBeCloseTo(0.5, 15);
    expect(x.data[1]).toBeCloseTo(2 / 3, 15);
  });

  test('pure Newton reaches the Rosenbrock minimum from (−1.2, 1) in a handful of steps (dense Hessian)', () => {
    const x = new Parameter(new Float64Array([-1.2, 1]), [2], 'x');
    const opt = new Newton([x], { hessian: ([p], out) => rosenbrockHessian(p!.data, out) });
    const closure = closureFor([x], (v) => rosenbrock(v), (v, g) => rosenbrockGrad(v, g));
    let steps = 0;
    while (rosenbrock(x.data) > 1e-20 && steps < 10) {
      opt.step(closure);
      steps++;
    }
    expect(steps).toBeLessThanOrEqual(7);
    expect(Math.abs(x.data[0]! - 1)).toBeLessThan(1e-10);
    expect(Math.abs(x.data[1]! - 1)).toBeLessThan(1e-10);
  });

  test.each([
    ['the 2-d Rosenbrock function from (−1.2, 1)', [-1.2, 1]],
    // (−1.2, 1, −1.2, 1, …) would lead to the 6-d function's local minimum near (−0.99, 0.98, …), f ≈ 3.97.
    ['the 6-d Rosenbrock function from 0', [0, 0, 0, 0, 0, 0]],
  ])('Newton-CG with backtracking and adaptive damping solves %s', (_name, start) => {
    const n = start.length;
    const x = new Parameter(Float64Array.from(start), [n], 'x');
    const opt = new Newton([x], {
      hvp: (v, out) => rosenbrockHvp(x.data, v, out),
      lineSearch: 'backtracking',
      adaptiveDamping: true,
      damping: 1e-3,
    });
    const closure = closureFor([x], (v) => rosenbrock(v), (v, g) => rosenbrockGrad(v, g));
    let steps = 0;
    let previous = Infinity;
    while (rosenbrock(x.data) > 1e-20 && steps < 60) {
      const loss = opt.step(closure);
      expect(loss).toBeLessThanOrEqual(previous);
      previous = loss;
      steps++;
    }
    expect(steps).toBeLessThan(40);
    for (let i = 0; i < n; i++) expect(Math.abs(x.data[i]! - 1)).toBeLessThan(1e-9);
  });

  test('an indefinite Hessian raises the damping until H + λI is positive definite, and the step descends', () => {
    // f = x² − y² + y⁴/4 at (1, 0.1): H = diag(2, −2 + 3·0.01) is indefinite.
    const x = new Parameter(new Float64Array([1, 0.1]), [2], 'x');
    const f = (v: ArrayLike<number>): number => v[0]! ** 2 - v[1]! ** 2 + v[1]! ** 4 / 4;
    const opt = new Newton([x], {
      hessian: ([p], out) => out.set([2, 0, 0, -2 + 3 * p!.data[1]! ** 2]),
      minDamping: 1e-3,
      dampingIncrease: 10,
    });
    const before = f(x.data);
    opt.step(closureFor([x], f, (v, g) => ((g[0] = 2 * v[0]!), (g[1] = -2 * v[1]! + v[1]! ** 3))));
    const lambda = opt.state.get(x)!.damping;
    expect(lambda).toBe(10); // 1e-3 → 1e-2 → … → 10 > 1.97
    expect(f(x.data)).toBeLessThan(before);
  });

  test('adaptive damping rejects a step that raises the loss, restores the point and grows λ', () => {
    // A Hessian that underestimates curvature by 100× overshoots: the undamped step is rejected.
    const x = new Parameter(new Float64Array([1]), [1], 'x');
    const opt = new Newton([x], { hessian: (_p, out) => out.set([0.02]), adaptiveDamping: true, minDamping: 0.01, dampingIncrease: 4 });
    opt.step(closureFor([x], (v) => v[0]! ** 2, (v, g) => (g[0] = 2 * v[0]!)));
    expect(opt.lastStepAccepted).toBe(true);
    expect(opt.lastClosureEvals).toBeGreaterThan(2);
    expect(Math.abs(x.data[0]!)).toBeLessThan(1);
    expect(opt.state.get(x)!.damping).toBeGreaterThan(0);
  });

  test('the damping persists through the state dict under adaptive damping', () => {
    const x = new Parameter(new Float64Array([-1.2, 1]), [2], 'x');
    const options = { hessian: ([p]: readonly Parameter[], out: Float64Array) => rosenbrockHessian(p!.data, out), adaptiveDamping: true, damping: 1 };
    const opt = new Newton([x], options);
    opt.step(closureFor([x], (v) => rosenbrock(v), (v, g) => rosenbrockGrad(v, g)));
    const saved = JSON.parse(JSON.stringify(opt.stateDict())) as Record<string, unknown>;
    const y = new Parameter(Float64Array.from(x.data), [2], 'x');
    const other = new Newton([y], options);
    other.loadStateDict(saved);
    expect(other.state.get(y)).toEqual(opt.state.get(x));
    expect(other.state.get(y)!.damping).toBeCloseTo(0.1, 15);
  });

  test('step() without a closure throws ClosureRequiredError', () => {
    const opt = new Newton([Parameter.zeros([2], 'float64')], { hessian: (_p, out) => out.fill(1) });
    expect(() => opt.step()).toThrow(ClosureRequiredError);
  });

  test('needs exactly one of hessian and hvp, one parameter group, and valid options', () => {
    const x = Parameter.zeros([2], 'float64');
    expect(() => new Newton([x])).toThrow(InvalidOptionError);
    expect(() => new Newton([x], { hessian: () => undefined, hvp: () => undefined })).toThrow(/exactly one/);
    expect(() => new Newton([{ params: [x] }, { params: [Parameter.zeros([1], 'float64')] }], { hvp: () => undefined })).toThrow(ParamGroupError);
    expect(() => new Newton([x], { hvp: () => undefined, dampingIncrease: 1 })).toThrow(/dampingIncrease/);
    expect(() => new Newton([x], { hvp: () => undefined, lineSearch: 'wolfe' as 'none' })).toThrow(/lineSearch/);
  });

  test('a non-finite gradient throws, or under skip leaves the parameters untouched', () => {
    const x = new Parameter(new Float64Array([1, 2]), [2], 'x');
    const bad = (): number => {
      x.grad = new Float64Array([Infinity, 0]);
      return 0;
    };
    expect(() => new Newton([x], { hessian: (_p, out) => out.set([1, 0, 0, 1]) }).step(bad)).toThrow(NonFiniteError);
    const skipping = new Newton([x], { hessian: (_p, out) => out.set([1, 0, 0, 1]), nonFinite: 'skip' });
    skipping.step(bad);
    expect(skipping.lastStepSkipped).toBe(true);
    expect(Array.from(x.data)).toEqual([1, 2]);
  });
});
