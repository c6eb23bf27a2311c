import { graphLaplacian, laplacianRegularization } from '../src/index';
import { expectGradClose, testValues } from './helpers/gradcheck';

/** 2λ·tr(Fᵀ L F) with L = D − S, via graphLaplacian (symmetric S). */
function traceForm(f: Float64Array, n: number, k: number, s: Float64Array, lambda: number): number {
  const l = graphLaplacian(s, n, new Float64Array(n * n));
  let t = 0;
  for (let c = 0; c < k; c++) for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) t += f[i * k + c]! * l[i * n + j]! * f[j * k + c]!;
  return 2 * lambda * t;
}

describe('laplacianRegularization (manifold regularisation)', () => {
  const n = 5;
  const k = 3;
  const sym = new Float64Array(n * n);
  const raw = testValues(n * n, 12);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) sym[i * n + j] = Math.abs(raw[i * n + j]! + raw[j * n + i]!);

  test('the pairwise form equals 2λ·tr(FᵀLF) for a symmetric similarity', () => {
    const f = testValues(n * k, 2);
    expect(laplacianRegularization(f, [n, k], sym, 0.4)).toBeCloseTo(traceForm(f, n, k, sym, 0.4), 12);
  });

  test.each([
    ['symmetric', sym],
    ['asymmetric', testValues(n * n, 31).map(Math.abs)],
  ])('the gradient w.r.t. F matches central differences (%s S)', (_name, s) => {
    const f = testValues(n * k, 6);
    const grad = new Float64Array(n * k);
    laplacianRegularization(f, [n, k], s, 0.25, { grad });
    expectGradClose(() => laplacianRegularization(f, [n, k], s, 0.25), f, grad);
  });

  test('for symmetric S the gradient is 4λ·L·F', () => {
    const f = testValues(n * k, 9);
    const grad = new Float64Array(n * k);
    laplacianRegularization(f, [n, k], sym, 0.5, { grad });
    const l = graphLaplacian(sym, n, new Float64Array(n * n));
    for (let i = 0; i < n; i++) {
      for (let c = 0; c < k; c++) {
        let lf = 0;
        for (let j = 0; j < n; j++) lf += l[i * n + j]! * f[j * k + c]!;
        expect(grad[i * k + c]).toBeCloseTo(4 * 0.5 * lf, 12);
      }
    }
  });

  test('float32 outputs work and bad shapes are rejected', () => {
    const f = new Float32Array([0, 1, 1, 0]);
    const grad = new Float32Array(4);
    expect(laplacianRegularization(f, [2, 2], [0, 1, 1, 0], 1, { grad })).toBe(4);
    expect(Array.from(grad)).toEqual([-4, 4, 4, -4]);
    expect(() => laplacianRegularization(f, [2, 2], [0, 1, 1], 1)).toThrow(/similarity/);
    expect(() => laplacianRegularization(f, [4], [0], 1)).toThrow(/at least 2/);
  });

  test('graphLaplacian builds D − S and the symmetric normalised Laplacian', () => {
    const l = graphLaplacian([0, 2, 0, 2, 0, 1, 0, 1, 0], 3, new Float64Array(9));
    expect(Array.from(l)).toEqual([2, -2, 0, -2, 3, -1, 0, -1, 1]);
    const ln = graphLaplacian([0, 1, 1, 0], 2, new Float32Array(4), { normalized: true });
    expect(Array.from(ln)).toEqual([1, -1, -1, 1]);
  });
});
