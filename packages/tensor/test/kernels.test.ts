import { adamUpdate, axpy, dot, firstNonFinite, lpNorm, maxAbs, sgdUpdate, sumOfSquares } from '../src/index';

describe('reductions', () => {
  test('firstNonFinite finds NaN and infinities, -1 when all finite', () => {
    expect(firstNonFinite(new Float32Array([1, 2, 3]))).toBe(-1);
    expect(firstNonFinite(new Float64Array([1, NaN, Infinity]))).toBe(1);
    expect(firstNonFinite(new Float64Array([1, 2, -Infinity]))).toBe(2);
  });

  test('p-norms: 1, 2, 3, inf, -inf, 0', () => {
    const x = new Float64Array([3, -4, 0]);
    expect(lpNorm(x, 1)).toBe(7);
    expect(lpNorm(x, 2)).toBe(5);
    expect(lpNorm(x, 3)).toBeCloseTo((27 + 64) ** (1 / 3), 14);
    expect(lpNorm(x, Infinity)).toBe(4);
    expect(lpNorm(x, -Infinity)).toBe(0);
    expect(lpNorm(x, 0)).toBe(2);
    expect(sumOfSquares(x)).toBe(25);
    expect(maxAbs(new Float64Array([1, NaN]))).toBeNaN();
  });

  test('dot and axpy', () => {
    const y = new Float64Array([1, 1]);
    axpy(y, 2, new Float64Array([3, 4]));
    expect(Array.from(y)).toEqual([7, 9]);
    expect(dot(y, new Float64Array([1, 2]))).toBe(25);
  });
});

describe('update kernels', () => {
  test('sgdUpdate without momentum is p ← p − lr·(g + wd·p), and maximize flips the gradient', () => {
    const p = new Float64Array([1, 2]);
    sgdUpdate(p, new Float64Array([0.5, -1]), null, 0.1, 0, 0, 0.5, false, false, false);
    expect(p[0]).toBeCloseTo(1 - 0.1 * (0.5 + 0.5), 15);
    expect(p[1]).toBeCloseTo(2 - 0.1 * (-1 + 1), 15);
    const q = new Float64Array([0]);
    sgdUpdate(q, new Float64Array([1]), null, 0.1, 0, 0, 0, false, true, false);
    expect(q[0]).toBeCloseTo(0.1, 15);
  });

  test('sgdUpdate with nesterov uses g + μ·buf', () => {
    const p = new Float64Array([0]);
    const buf = new Float64Array([1]);
    sgdUpdate(p, new Float64Array([2]), buf, 1, 0.5, 0, 0, true, false, false);
    expect(buf[0]).toBe(0.5 * 1 + 2);
    expect(p[0]).toBe(-(2 + 0.5 * 2.5));
  });

  test('adamUpdate applies decoupled decay before the moment update', () => {
    const p = new Float64Array([2]);
    const m = new Float64Array(1);
    const v = new Float64Array(1);
    adamUpdate(p, new Float64Array([1]), m, v, null, 0.1 / (1 - 0.9), Math.sqrt(1 - 0.999), 0.9, 0.999, 1e-8, 0, 0.5, false);
    expect(m[0]).toBeCloseTo(0.1, 15);
    expect(v[0]).toBeCloseTo(0.001, 15);
    expect(p[0]).toBeCloseTo(1 - 0.1 / (1 + 1e-8), 12);
  });
});
