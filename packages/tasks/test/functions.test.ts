import { LBFGS, choleskyFactor, choleskySolve } from '@opt/core';
import { InvalidOptionError, Rng, ShapeMismatchError } from '@opt/tensor';
import {
  Ackley,
  Beale,
  Booth,
  Himmelblau,
  IllConditionedQuadratic,
  RandomLeastSquares,
  Rastrigin,
  Rosenbrock,
  type TestFunction,
} from '../src/functions/index';
import { checkGradient, checkHessian, flattenGrads, maxRelativeError } from '../src/objective';

type Factory = (dtype: 'float32' | 'float64') => TestFunction;

const FUNCTIONS: [string, Factory, number][] = [
  // name, factory, half-width of the box random test points are drawn from
  ['Rosenbrock-2', (dtype) => new Rosenbrock({ dtype }), 2],
  ['Rosenbrock-7', (dtype) => new Rosenbrock({ dimension: 7, dtype }), 2],
  ['Beale', (dtype) => new Beale({ dtype }), 2],
  ['Booth', (dtype) => new Booth({ dtype }), 5],
  ['Himmelblau', (dtype) => new Himmelblau({ dtype }), 5],
  ['Rastrigin-5', (dtype) => new Rastrigin({ dimension: 5, dtype }), 5],
  ['Ackley-4', (dtype) => new Ackley({ dimension: 4, dtype }), 3],
  ['IllConditionedQuadratic-8', (dtype) => new IllConditionedQuadratic({ dimension: 8, conditionNumber: 1e3, seed: 5, dtype }), 3],
  ['RandomLeastSquares-30x6', (dtype) => new RandomLeastSquares({ rows: 30, cols: 6, seed: 2, dtype }), 3],
];

/** Move f's parameter to a uniform random point of [−w, w]ⁿ. */
function randomPoint(f: TestFunction, rng: Rng, w: number): void {
  for (let i = 0; i < f.dimension; i++) f.x.data[i] = rng.uniform(-w, w);
}

describe.each(FUNCTIONS)('%s', (_name, make, width) => {
  test('the gradient matches central finite differences at random points (float64, rtol 1e-6)', () => {
    const f = make('float64');
    const rng = new Rng(11);
    for (let trial = 0; trial < 5; trial++) {
      randomPoint(f, rng, width);
      expect(checkGradient(f)).toBeLessThan(1e-6);
    }
    f.reset();
    expect(checkGradient(f)).toBeLessThan(1e-6);
  });

  test('the dense Hessian matches finite differences of the gradient and is symmetric', () => {
    const f = make('float64');
    const n = f.dimension;
    const rng = new Rng(12);
    const h = new Float64Array(n * n);
    for (let trial = 0; trial < 3; trial++) {
      randomPoint(f, rng, width);
      expect(checkHessian(f)).toBeLessThan(1e-6);
      f.hessian(h);
      for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) expect(h[i * n + j]).toBe(h[j * n + i]);
    }
  });

  test('the Hessian-vector product equals the dense Hessian times v', () => {
    const f = make('float64');
    const n = f.dimension;
    const rng = new Rng(13);
    const h = new Float64Array(n * n);
    const v = new Float64Array(n);
    const hv = new Float64Array(n);
    const expected = new Float64Array(n);
    for (let trial = 0; trial < 3; trial++) {
      randomPoint(f, rng, width);
      rng.fillNormal(v);
      f.hessian(h);
      f.hessianVectorProduct(v, hv);
      for (let i = 0; i < n; i++) {
        let s = 0;
        for (let j = 0; j < n; j++) s += h[i * n + j]! * v[j]!;
        expected[i] = s;
      }
      expect(maxRelativeError(hv, expected)).toBeLessThan(1e-12);
    }
  });

  test('every documented minimiser attains the minimum with a zero gradient', () => {
    const f = make('float64');
    expect(f.minimizers.length).toBeGreaterThan(0);
    const g = new Float64Array(f.dimension);
    for (const xStar of f.minimizers) {
      expect(xStar.length).toBe(f.dimension);
      const value = f.gradientAt(xStar, g);
      expect(value).toBeCloseTo(f.minimum, 10);
      expect(f.valueAt(xStar)).toBe(value);
      expect(Math.max(...Array.from(g, Math.abs))).toBeLessThan(1e-9);
      // Through the Objective interface too: write x*, then lossAndGrad.
      f.x.data.set(xStar);
      expect(f.lossAndGrad()).toBe(value);
      expect(Array.from(f.x.grad!)).toEqual(Array.from(g));
    }
  });

  test('the minimum is a lower bound of f at random points', () => {
    const f = make('float64');
    const rng = new Rng(14);
    for (let trial = 0; trial < 20; trial++) {
      randomPoint(f, rng, width);
      expect(f.loss()).toBeGreaterThanOrEqual(f.minimum - 1e-12);
    }
  });

  test('float32 parameters get float32 gradients equal to the rounded float64 ones', () => {
    const f32 = make('float32');
    const f64 = make('float64');
    const rng = new Rng(15);
    randomPoint(f64, rng, width);
    f32.x.data.set(f64.x.data);
    f64.x.data.set(f32.x.data); // both at the float32-representable point
    const l32 = f32.lossAndGrad();
    const l64 = f64.lossAndGrad();
    expect(f32.x.grad).toBeInstanceOf(Float32Array);
    expect(l32).toBe(l64);
    expect(Array.from(f32.x.grad!)).toEqual(Array.from(Float32Array.from(f64.x.grad!)));
    expect(checkGradient(f32, { eps: 1e-2 })).toBeLessThan(2e-2);
  });

  test('lossAndGrad overwrites the gradient and loss does not touch it', () => {
    const f = make('float64');
    f.x.grad = new Float64Array(f.dimension).fill(123);
    const value = f.lossAndGrad();
    const g = Array.from(f.x.grad);
    expect(g).not.toContain(123);
    f.x.data[f.dimension - 1] = f.x.data[f.dimension - 1]! + 0.5;
    expect(f.loss()).not.toBe(value);
    expect(Array.from(f.x.grad)).toEqual(g);
    f.reset();
    expect(f.loss()).toBe(value);
  });

  test('wrong buffer lengths are rejected', () => {
    const f = make('float64');
    expect(() => f.hessian(new Float64Array(f.dimension))).toThrow(ShapeMismatchError);
    expect(() => f.hessianVectorProduct(new Float64Array(f.dimension + 1), new Float64Array(f.dimension))).toThrow(ShapeMismatchError);
  });
});

describe('Rosenbrock', () => {
  test('starts at (−1.2, 1, −1.2, …) with the textbook value 24.2 in two dimensions', () => {
    const f = new Rosenbrock();
    expect(Array.from(f.x.data)).toEqual([-1.2, 1]);
    expect(f.loss()).toBeCloseTo(24.2, 12);
    expect(Array.from(new Rosenbrock({ dimension: 5 }).initialPoint)).toEqual([-1.2, 1, -1.2, 1, -1.2]);
    expect(Array.from(f.minimizers[0]!)).toEqual([1, 1]);
  });

  test('the gradient at (−1.2, 1) is (−215.6, −88) in two dimensions', () => {
    const f = new Rosenbrock();
    f.lossAndGrad();
    expect(f.x.grad![0]).toBeCloseTo(-215.6, 10);
    expect(f.x.grad![1]).toBeCloseTo(-88, 10);
  });

  test('dimension below 2 and b <= 0 are rejected', () => {
    expect(() => new Rosenbrock({ dimension: 1 })).toThrow(/dimension/);
    expect(() => new Rosenbrock({ b: 0 })).toThrow(InvalidOptionError);
    expect(() => new Rosenbrock({ x0: [1, 2, 3] })).toThrow(ShapeMismatchError);
  });

  test('LBFGS with the strong-Wolfe search reaches (1, …, 1) on Rosenbrock-10 from the standard start', () => {
    const f = new Rosenbrock({ dimension: 10 });
    const opt = new LBFGS(f.parameters, { lineSearchFn: 'strong_wolfe', maxIter: 100, toleranceGrad: 1e-12, toleranceChange: 1e-15 });
    for (let i = 0; i < 20; i++) opt.step(() => f.lossAndGrad());
    for (const xi of f.x.data) expect(Math.abs(xi - 1)).toBeLessThan(1e-7);
    expect(f.loss()).toBeLessThan(1e-14);
  });
});

describe('Himmelblau', () => {
  test('has four distinct minimisers near the published values, one exactly (3, 2)', () => {
    const f = new Himmelblau();
    const published = [
      [3, 2],
      [-2.805118, 3.131312],
      [-3.77931, -3.283186],
      [3.584428, -1.848126],
    ];
    expect(f.minimizers).toHaveLength(4);
    f.minimizers.forEach((m, k) => {
      expect(m[0]).toBeCloseTo(published[k]![0]!, 5);
      expect(m[1]).toBeCloseTo(published[k]![1]!, 5);
      expect(f.valueAt(m)).toBeLessThan(1e-25);
    });
    expect(Array.from(f.minimizers[0]!)).toEqual([3, 2]);
  });

  test('LBFGS reaches the minimiser of the quadrant it starts in', () => {
    const starts = [
      [2, 2],
      [-2, 2],
      [-2, -2],
      [2, -2],
    ];
    starts.forEach((x0, k) => {
      const f = new Himmelblau({ x0 });
      const opt = new LBFGS(f.parameters, { lineSearchFn: 'strong_wolfe', toleranceGrad: 1e-12, toleranceChange: 1e-15 });
      for (let i = 0; i < 5; i++) opt.step(() => f.lossAndGrad());
      expect(Math.abs(f.x.data[0]! - f.minimizers[k]![0]!)).toBeLessThan(1e-8);
      expect(Math.abs(f.x.data[1]! - f.minimizers[k]![1]!)).toBeLessThan(1e-8);
    });
  });
});

describe('Beale and Booth', () => {
  test('Beale is 0 at (3, 0.5) and 14.203125 at the origin', () => {
    const f = new Beale();
    expect(f.valueAt([3, 0.5])).toBe(0);
    expect(f.valueAt([0, 0])).toBeCloseTo(1.5 ** 2 + 2.25 ** 2 + 2.625 ** 2, 12);
  });

  test('Booth has the constant Hessian [[10, 8], [8, 10]]', () => {
    const f = new Booth();
    const h = new Float64Array(4);
    f.hessian(h);
    expect(Array.from(h)).toEqual([10, 8, 8, 10]);
    expect(f.valueAt([1, 3])).toBe(0);
  });
});

describe('Rastrigin', () => {
  test('has a local minimum with a non-zero value near every integer lattice point', () => {
    const f = new Rastrigin({ dimension: 2 });
    f.x.data.set([1, -1]);
    const opt = new LBFGS(f.parameters, { lineSearchFn: 'strong_wolfe', toleranceGrad: 1e-12 });
    opt.step(() => f.lossAndGrad());
    expect(Math.abs(f.x.data[0]! - 1)).toBeLessThan(0.1);
    expect(f.loss()).toBeGreaterThan(1);
  });

  test('the Hessian is diagonal with 2 + 4π²A at the origin', () => {
    const f = new Rastrigin({ dimension: 3, amplitude: 2 });
    f.x.data.fill(0);
    const h = new Float64Array(9);
    f.hessian(h);
    const d = 2 + 4 * Math.PI * Math.PI * 2;
    expect(Array.from(h)).toEqual([d, 0, 0, 0, d, 0, 0, 0, d]);
  });
});

describe('Ackley', () => {
  test('is exactly 0 at the origin, where the reported gradient is the zero subgradient', () => {
    const f = new Ackley({ dimension: 3 });
    f.x.data.fill(0);
    expect(f.lossAndGrad()).toBe(0);
    expect(Array.from(f.x.grad!)).toEqual([0, 0, 0]);
  });

  test('the directional slope out of the origin is the cone slope a·b/√n in every direction', () => {
    const n = 4;
    const f = new Ackley({ dimension: n });
    const rng = new Rng(3);
    for (let trial = 0; trial < 3; trial++) {
      const u = rng.fillNormal(new Float64Array(n));
      const norm = Math.hypot(...u);
      const t = 1e-7;
      const step = u.map((ui) => (t * ui) / norm);
      const slope = f.valueAt(step) / t;
      // The cosine term is flat to first order at the origin, so only the cone contributes.
      expect(slope).toBeCloseTo((20 * 0.2) / Math.sqrt(n), 5);
    }
  });

  test('at the origin the Hessian is the smooth cosine term (e·c²/n on the diagonal) and is finite', () => {
    const n = 2;
    const f = new Ackley({ dimension: n });
    f.x.data.fill(0);
    const h = new Float64Array(n * n);
    f.hessian(h);
    const c = 2 * Math.PI;
    expect(h[0]).toBeCloseTo((Math.E * c * c) / n, 10);
    expect(h[1]).toBe(-0);
    const hv = new Float64Array(n);
    f.hessianVectorProduct(Float64Array.of(1, 2), hv);
    expect(hv[0]).toBeCloseTo(h[0]!, 10);
    expect(hv[1]).toBeCloseTo(2 * h[3]!, 10);
  });
});

/**
 * λ_max by power iteration and λ_min by inverse iteration (Cholesky solves),
 * both read off Rayleigh quotients: independent of how A was built.
 */
function extremeEigenvalues(a: Float64Array, n: number): [number, number] {
  const rng = new Rng(99);
  const rayleigh = (v: Float64Array): number => {
    let num = 0;
    let den = 0;
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let j = 0; j < n; j++) s += a[i * n + j]! * v[j]!;
      num += v[i]! * s;
      den += v[i]! * v[i]!;
    }
    return num / den;
  };
  const normalise = (v: Float64Array): void => {
    const norm = Math.hypot(...v);
    for (let i = 0; i < n; i++) v[i] = v[i]! / norm;
  };
  let v = rng.fillNormal(new Float64Array(n));
  for (let it = 0; it < 500; it++) {
    const w = new Float64Array(n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) w[i] = w[i]! + a[i * n + j]! * v[j]!;
    normalise(w);
    v = w;
  }
  const lambdaMax = rayleigh(v);
  const factor = new Float64Array(n * n);
  expect(choleskyFactor(a, n, factor)).toBe(true);
  let u = rng.fillNormal(new Float64Array(n));
  for (let it = 0; it < 500; it++) {
    const w = new Float64Array(n);
    choleskySolve(factor, n, u, w);
    normalise(w);
    u = w;
  }
  return [lambdaMax, rayleigh(u)];
}

describe('IllConditionedQuadratic', () => {
  test.each([
    [6, 10],
    [10, 1e3],
    [12, 1e5],
  ])('n = %d: the extreme eigenvalues found by power and inverse iteration give the requested κ = %d', (n, kappa) => {
    const f = new IllConditionedQuadratic({ dimension: n, conditionNumber: kappa, seed: 4 });
    const [hi, lo] = extremeEigenvalues(f.matrix, n);
    expect(hi).toBeCloseTo(1, 10);
    expect(lo * kappa).toBeCloseTo(1, 8);
    expect(hi / lo / kappa).toBeCloseTo(1, 7);
    expect(f.conditionNumber).toBe(kappa);
  });

  test('the eigenpairs hold by construction: A·q_k = λ_k·q_k with Q orthogonal, λ log-spaced', () => {
    const n = 7;
    const f = new IllConditionedQuadratic({ dimension: n, conditionNumber: 64, seed: 8 });
    const q = f.eigenvectors;
    for (let k = 0; k < n; k++) {
      expect(f.eigenvalues[k]).toBeCloseTo(Math.pow(64, -k / (n - 1)), 14);
      for (let i = 0; i < n; i++) {
        let s = 0;
        for (let j = 0; j < n; j++) s += f.matrix[i * n + j]! * q[j * n + k]!;
        expect(s).toBeCloseTo(f.eigenvalues[k]! * q[i * n + k]!, 12);
      }
      for (let l = 0; l < n; l++) {
        let dot = 0;
        for (let i = 0; i < n; i++) dot += q[i * n + k]! * q[i * n + l]!;
        expect(dot).toBeCloseTo(k === l ? 1 : 0, 12);
      }
    }
  });

  test('the rotation makes A far from diagonal; rotate: false keeps it diagonal', () => {
    const n = 10;
    const rotated = new IllConditionedQuadratic({ dimension: n, conditionNumber: 100, seed: 1 });
    let off = 0;
    let total = 0;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        const a2 = rotated.matrix[i * n + j]! ** 2;
        total += a2;
        if (i !== j) off += a2;
      }
    }
    expect(off / total).toBeGreaterThan(0.2);
    const plain = new IllConditionedQuadratic({ dimension: 3, conditionNumber: 100, rotate: false, center: [0, 0, 0] });
    expect(Array.from(plain.matrix)).toEqual([1, 0, 0, 0, 0.1, 0, 0, 0, 0.01]);
  });

  test('given eigenvalues and centre are used as they are', () => {
    const f = new IllConditionedQuadratic({ eigenvalues: [4, 1, 0.5], center: [1, 2, 3], seed: 2 });
    expect(f.dimension).toBe(3);
    expect(f.conditionNumber).toBe(8);
    expect(Array.from(f.minimizers[0]!)).toEqual([1, 2, 3]);
    const [hi, lo] = extremeEigenvalues(f.matrix, 3);
    expect(hi).toBeCloseTo(4, 10);
    expect(lo).toBeCloseTo(0.5, 10);
  });

  test('the same seed builds the same matrix and centre; another seed does not', () => {
    const a = new IllConditionedQuadratic({ dimension: 5, seed: 3 });
    const b = new IllConditionedQuadratic({ dimension: 5, seed: 3 });
    const c = new IllConditionedQuadratic({ dimension: 5, seed: 4 });
    expect(Array.from(a.matrix)).toEqual(Array.from(b.matrix));
    expect(Array.from(a.center)).toEqual(Array.from(b.center));
    expect(Array.from(a.matrix)).not.toEqual(Array.from(c.matrix));
  });

  test('invalid spectra are rejected with the option named', () => {
    expect(() => new IllConditionedQuadratic({ conditionNumber: 0.5 })).toThrow(/conditionNumber/);
    expect(() => new IllConditionedQuadratic({ dimension: 1, conditionNumber: 10 })).toThrow(/conditionNumber/);
    expect(() => new IllConditionedQuadratic({ eigenvalues: [1, -1] })).toThrow(/eigenvalues\[1\]/);
    expect(() => new IllConditionedQuadratic({ dimension: 3, eigenvalues: [1, 2] })).toThrow(ShapeMismatchError);
  });
});

describe('RandomLeastSquares', () => {
  test('solution() satisfies the normal equations AᵀA·x = Aᵀb', () => {
    const f = new RandomLeastSquares({ rows: 40, cols: 8, seed: 9 });
    const x = f.solution();
    const g = new Float64Array(8);
    f.gradientAt(x, g); // Aᵀ(Ax − b)
    expect(Math.max(...Array.from(g, Math.abs))).toBeLessThan(1e-12);
    expect(f.minimum).toBeGreaterThan(0);
    // With σ = 0 the planted solution is recovered and the minimum is 0.
    const exact = new RandomLeastSquares({ rows: 40, cols: 8, seed: 9, noise: 0 });
    expect(maxRelativeError(exact.solution(), exact.trueSolution)).toBeLessThan(1e-12);
    expect(exact.minimum).toBeLessThan(1e-25);
  });

  test('LBFGS reaches the least-squares solution', () => {
    const f = new RandomLeastSquares({ rows: 60, cols: 15, seed: 1 });
    const opt = new LBFGS(f.parameters, { lineSearchFn: 'strong_wolfe', maxIter: 100, toleranceGrad: 1e-13, toleranceChange: 1e-15 });
    for (let i = 0; i < 3; i++) opt.step(() => f.lossAndGrad());
    // A loss-driven method resolves x to about √ε_mach: beyond that f stops changing in float64.
    expect(maxRelativeError(f.x.data, f.solution())).toBeLessThan(1e-7);
    expect(f.loss()).toBeCloseTo(f.minimum, 14);
    f.lossAndGrad();
    expect(Math.max(...Array.from(flattenGrads(f), Math.abs))).toBeLessThan(1e-7);
  });

  test('is reproducible from its seed and rejects rows < cols', () => {
    const a = new RandomLeastSquares({ seed: 5 });
    const b = new RandomLeastSquares({ seed: 5 });
    const c = new RandomLeastSquares({ seed: 6 });
    expect(Array.from(a.matrix)).toEqual(Array.from(b.matrix));
    expect(Array.from(a.target)).toEqual(Array.from(b.target));
    expect(Array.from(a.target)).not.toEqual(Array.from(c.target));
    expect(() => new RandomLeastSquares({ rows: 3, cols: 4 })).toThrow(/rows/);
  });
});
