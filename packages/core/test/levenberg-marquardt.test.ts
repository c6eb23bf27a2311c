import { InvalidOptionError, NonFiniteError, Parameter, ParamGroupError } from '@opt/tensor';
import { LevenbergMarquardt } from '../src/index';
import { rosenbrock, rosenbrockJacobian, rosenbrockResiduals } from './helpers/functions';

/** y = a·exp(−b·t) + c sampled without noise at a = 2.5, b = 1.3, c = 0.4. */
const T = Array.from({ length: 12 }, (_, i) => i * 0.25);
const Y = T.map((t) => 2.5 * Math.exp(-1.3 * t) + 0.4);

function decayProblem(p: Parameter) {
  return {
    residualCount: T.length,
    residuals: (_params: readonly Parameter[], out: Float64Array) => {
      const [a, b, c] = p.data as unknown as [number, number, number];
      T.forEach((t, i) => (out[i] = a * Math.exp(-b * t) + c - Y[i]!));
    },
    jacobian: (_params: readonly Parameter[], out: Float64Array) => {
      const [a, b] = p.data as unknown as [number, number];
      T.forEach((t, i) => {
        const e = Math.exp(-b * t);
        out[3 * i] = e;
        out[3 * i + 1] = -a * t * e;
        out[3 * i + 2] = 1;
      });
    },
  };
}

describe('LevenbergMarquardt', () => {
  test('fits an exponential decay a·exp(−b·t) + c to its exact parameters', () => {
    const p = new Parameter(new Float64Array([1, 0.5, 0]), [3], 'abc');
    const lm = new LevenbergMarquardt([p], decayProblem(p));
    const result = lm.minimize();
    expect(['gradient-tolerance', 'step-tolerance']).toContain(result.reason);
    expect(result.iterations).toBeLessThan(50);
    expect(p.data[0]).toBeCloseTo(2.5, 9);
    expect(p.data[1]).toBeCloseTo(1.3, 9);
    expect(p.data[2]).toBeCloseTo(0.4, 9);
    expect(result.cost).toBeLessThan(1e-20);
  });

  test.each(['marquardt', 'identity'] as const)('solves Rosenbrock as least squares from (−1.2, 1) to (1, 1) with %s scaling', (scaling) => {
    const x = new Parameter(new Float64Array([-1.2, 1]), [2], 'x');
    const lm = new LevenbergMarquardt([x], {
      scaling,
      residualCount: 2,
      residuals: ([p], out) => rosenbrockResiduals(p!.data, out),
      jacobian: ([p], out) => rosenbrockJacobian(p!.data, out),
    });
    const first = lm.step();
    expect(first).toBeCloseTo(rosenbrock([-1.2, 1]) / 2, 12);
    lm.minimize();
    expect(Math.abs(x.data[0]! - 1)).toBeLessThan(1e-10);
    expect(Math.abs(x.data[1]! - 1)).toBeLessThan(1e-10);
  });

  test('a linear least-squares problem is solved in one step with λ = 0: the normal-equation solution', () => {
    // Fit y = u + v·t: normal equations give v = cov(t, y)/var(t), u = ȳ − v·t̄.
    const t = [0, 1, 2, 3, 4, 5];
    const y = [1.1, 2.9, 5.2, 7.1, 8.8, 11.3];
    const uv = new Parameter(new Float64Array([0, 0]), [2], 'uv');
    const lm = new LevenbergMarquardt([uv], {
      lambda: 0,
      residualCount: t.length,
      residuals: ([p], out) => t.forEach((ti, i) => (out[i] = p!.data[0]! + p!.data[1]! * ti - y[i]!)),
      jacobian: (_p, out) => t.forEach((ti, i) => ((out[2 * i] = 1), (out[2 * i + 1] = ti))),
    });
    lm.step();
    const tMean = t.reduce((s, v) => s + v, 0) / t.length;
    const yMean = y.reduce((s, v) => s + v, 0) / y.length;
    let cov = 0;
    let variance = 0;
    t.forEach((ti, i) => {
      cov += (ti - tMean) * (y[i]! - yMean);
      variance += (ti - tMean) ** 2;
    });
    const v = cov / variance;
    expect(uv.data[1]).toBeCloseTo(v, 12);
    expect(uv.data[0]).toBeCloseTo(yMean - v * tMean, 12);
    expect(lm.lastStepAccepted).toBe(true);
    expect(lm.state.get(uv)!.lambda).toBe(1e-12); // 0·lambdaDown, floored at minLambda
  });

  test('a rejected trial restores the parameters and raises λ by lambdaUp until the cost decreases', () => {
    // r = atan(x) from x = 2: J = 1/5, the Gauss–Newton step −r/J = −5.5 overshoots to where |atan| is larger.
    // λ = 0, 1e-3, 1e-2 are rejected (x → −3.5, −3.4, −2.4), λ = 0.1 gives x ≈ 0.42 and is accepted.
    const x = new Parameter(new Float64Array([2]), [1], 'x');
    const visited: number[] = [];
    const lm = new LevenbergMarquardt([x], {
      residualCount: 1,
      lambda: 0,
      minLambda: 1e-3,
      scaling: 'identity',
      residuals: ([p], out) => {
        visited.push(p!.data[0]!);
        out[0] = Math.atan(p!.data[0]!);
      },
      jacobian: ([p], out) => (out[0] = 1 / (1 + p!.data[0]! ** 2)),
    });
    lm.step();
    expect(visited.length).toBe(5);
    expect(visited[1]).toBeCloseTo(2 - Math.atan(2) * 5, 12);
    const g = Math.atan(2) / 5;
    expect(x.data[0]).toBeCloseTo(2 - g / (0.04 + 0.1), 12);
    expect(lm.state.get(x)!.lambda).toBeCloseTo(0.01, 15);
    expect(lm.cost).toBeCloseTo(0.5 * Math.atan(x.data[0]!) ** 2, 15);
  });

  test('every step lowers the cost (accepted) or keeps it (rejected) on the decay fit from a pure Gauss–Newton start', () => {
    const p = new Parameter(new Float64Array([1, 0.5, 0]), [3], 'abc');
    const lm = new LevenbergMarquardt([p], { ...decayProblem(p), lambda: 0, lambdaUp: 10, minLambda: 1e-6 });
    const costs: number[] = [];
    for (let k = 0; k < 30; k++) {
      const cost = lm.step();
      costs.push(cost);
      expect(lm.cost).toBeLessThanOrEqual(cost);
    }
    for (let k = 1; k < costs.length; k++) expect(costs[k]).toBeLessThanOrEqual(costs[k - 1]!);
    expect(p.data[1]).toBeCloseTo(1.3, 8);
  });

  test('gives up a step (parameters unchanged) when no λ up to maxLambda lowers the cost', () => {
    const x = new Parameter(new Float64Array([2]), [1], 'x');
    // r(x) = x² − 1 at a point where the reported Jacobian has the wrong sign: every step goes uphill.
    const lm = new LevenbergMarquardt([x], {
      residualCount: 1,
      residuals: ([p], out) => (out[0] = p!.data[0]! ** 2 - 1),
      jacobian: ([p], out) => (out[0] = -2 * p!.data[0]!),
      maxLambda: 1e6,
    });
    expect(lm.step()).toBe(4.5);
    expect(lm.lastStepAccepted).toBe(false);
    expect(x.data[0]).toBe(2);
    expect(lm.minimize().reason).toBe('no-progress');
  });

  test('λ and the step count persist through a JSON state dict', () => {
    const p = new Parameter(new Float64Array([1, 0.5, 0]), [3], 'abc');
    const lm = new LevenbergMarquardt([p], decayProblem(p));
    lm.step();
    lm.step();
    const saved = JSON.parse(JSON.stringify(lm.stateDict())) as Record<string, unknown>;
    const q = new Parameter(Float64Array.from(p.data), [3], 'abc');
    const resumed = new LevenbergMarquardt([q], decayProblem(q));
    resumed.loadStateDict(saved);
    expect(resumed.state.get(q)).toEqual(lm.state.get(p));
    lm.step();
    resumed.step();
    expect(Array.from(q.data)).toEqual(Array.from(p.data));
  });

  test('non-finite residuals throw NonFiniteError, or under skip leave everything untouched', () => {
    const x = new Parameter(new Float64Array([1]), [1], 'x');
    const options = {
      residualCount: 1,
      residuals: (_p: readonly Parameter[], out: Float64Array) => (out[0] = NaN),
      jacobian: (_p: readonly Parameter[], out: Float64Array) => (out[0] = 1),
    };
    expect(() => new LevenbergMarquardt([x], options).step()).toThrow(NonFiniteError);
    const skipping = new LevenbergMarquardt([x], { ...options, nonFinite: 'skip' });
    skipping.step();
    expect(skipping.lastStepSkipped).toBe(true);
    expect(skipping.state.size).toBe(0);
    expect(x.data[0]).toBe(1);
  });

  test('validates residualCount, the problem functions, λ factors and the single group', () => {
    const x = Parameter.zeros([1], 'float64');
    const fns = { residuals: () => undefined, jacobian: () => undefined };
    expect(() => new LevenbergMarquardt([x], fns)).toThrow(/residualCount/);
    expect(() => new LevenbergMarquardt([x], { residualCount: 1, residuals: fns.residuals } as never)).toThrow(InvalidOptionError);
    expect(() => new LevenbergMarquardt([x], { ...fns, residualCount: 1, lambdaDown: 2 })).toThrow(/lambdaDown/);
    expect(() => new LevenbergMarquardt([{ params: [x] }, { params: [Parameter.zeros([1], 'float64')] }], { ...fns, residualCount: 1 })).toThrow(
      ParamGroupError,
    );
  });
});
