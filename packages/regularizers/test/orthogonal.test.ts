import { Parameter } from '@opt/core';
import { SpectralRestrictedIsometry, softOrthogonality } from '../src/index';
import { expectGradClose, testValues } from './helpers/gradcheck';

/** ‖WᵀW − I‖²_F (columns) or ‖WWᵀ − I‖²_F (rows) by the definition, for the tests. */
function gramDeviation(w: ArrayLike<number>, r: number, c: number, side: 'columns' | 'rows'): number {
  const n = side === 'columns' ? c : r;
  let s = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let g = 0;
      if (side === 'columns') for (let t = 0; t < r; t++) g += w[t * c + i]! * w[t * c + j]!;
      else for (let t = 0; t < c; t++) g += w[i * c + t]! * w[j * c + t]!;
      const d = g - (i === j ? 1 : 0);
      s += d * d;
    }
  }
  return s;
}

/** σ_max of a symmetric matrix by many power iterations (test oracle, independent of the class). */
function symmetricSpectralNorm(a: Float64Array, n: number): number {
  let v = new Float64Array(n).map((_, i) => 1 + i * 0.37);
  let lambda = 0;
  for (let it = 0; it < 5000; it++) {
    const w = new Float64Array(n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) w[i] = w[i]! + a[i * n + j]! * v[j]!;
    const norm = Math.hypot(...w);
    lambda = norm;
    v = w.map((x) => x / norm);
  }
  return lambda;
}

describe('softOrthogonality', () => {
  test.each([
    [5, 3, 'columns'],
    [5, 3, 'rows'],
    [3, 5, 'columns'],
    [3, 5, 'rows'],
    [4, 4, 'columns'],
  ] as const)('the value matches the definition and the gradient matches central differences for a [%i, %i] weight (%s)', (r, c, side) => {
    const x = testValues(r * c, r * 10 + c);
    const p = new Parameter(x, [r, c]);
    const value = softOrthogonality(p, 0.3, { side });
    expect(value).toBeCloseTo(0.3 * gramDeviation(x, r, c, side), 12);
    const analytic = p.grad!.slice();
    expectGradClose(() => softOrthogonality(p, 0.3, { side, addToGrad: false }), x, analytic);
  });

  test('an orthogonal matrix has zero penalty and zero gradient', () => {
    const s = Math.SQRT1_2;
    const p = Parameter.from([s, s, -s, s, 0, 0], { shape: [3, 2], dtype: 'float64' });
    expect(softOrthogonality(p, 1)).toBeLessThan(1e-30);
    for (const g of p.grad!) expect(Math.abs(g)).toBeLessThan(1e-15);
  });

  test('a 4-D convolution weight is viewed as [out, in·kh·kw] and float32 works', () => {
    const x64 = testValues(2 * 3 * 2 * 2, 5);
    const p64 = new Parameter(x64, [2, 3, 2, 2]);
    const p32 = new Parameter(Float32Array.from(x64), [2, 3, 2, 2]);
    const v64 = softOrthogonality(p64, 0.1, { side: 'rows' });
    const v32 = softOrthogonality(p32, 0.1, { side: 'rows' });
    expect(p32.grad).toBeInstanceOf(Float32Array);
    expect(Math.abs(v32 - v64) / v64).toBeLessThan(1e-6);
    for (let i = 0; i < x64.length; i++) expect(Math.abs(p32.grad![i]! - p64.grad![i]!)).toBeLessThan(1e-6);
  });

  test('a provided workspace is used and a too-small one is rejected', () => {
    const p = new Parameter(testValues(12, 2), [4, 3]);
    const ws = new Float64Array(9);
    const v = softOrthogonality(p, 1, { workspace: ws, addToGrad: false });
    expect(v).toBeCloseTo(gramDeviation(p.data, 4, 3, 'columns'), 12);
    expect(() => softOrthogonality(p, 1, { workspace: new Float64Array(4) })).toThrow(/workspace/);
    expect(() => softOrthogonality(new Parameter(new Float64Array(3)), 1)).toThrow(/2 dimensions/);
    expect(() => softOrthogonality(p, 1, { side: 'diagonal' as 'rows' })).toThrow(/side/);
  });
});

describe('SpectralRestrictedIsometry (SRIP)', () => {
  test.each([
    [6, 4, 'columns'],
    [4, 6, 'rows'],
    [6, 4, 'rows'],
  ] as const)('the value is λ·σ_max(A) and the gradient matches central differences for [%i, %i] (%s)', (r, c, side) => {
    const x = testValues(r * c, 7 + r);
    const p = new Parameter(x, [r, c]);
    const srip = new SpectralRestrictedIsometry([r, c], { lambda: 0.2, side, nPowerIterations: 3000, seed: 1 });
    const value = srip.penalty(p);
    const analytic = p.grad!.slice();
    // Oracle: form A explicitly and run an independent power iteration.
    const n = side === 'columns' ? c : r;
    const a = new Float64Array(n * n);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        let g = 0;
        if (side === 'columns') for (let t = 0; t < r; t++) g += x[t * c + i]! * x[t * c + j]!;
        else for (let t = 0; t < c; t++) g += x[i * c + t]! * x[j * c + t]!;
        a[i * n + j] = g - (i === j ? 1 : 0);
      }
    }
    expect(Math.abs(value - 0.2 * symmetricSpectralNorm(a, n)) / value).toBeLessThan(1e-10);
    expectGradClose(() => srip.penalty(p, { addToGrad: false }), x, analytic);
  });

  test('the power-iteration vector is seeded, persistent and restored losslessly by stateDict', () => {
    const x = testValues(20, 9);
    const p = new Parameter(x, [5, 4]);
    const a = new SpectralRestrictedIsometry([5, 4], { seed: 3, nPowerIterations: 1 });
    const b = new SpectralRestrictedIsometry([5, 4], { seed: 3, nPowerIterations: 1 });
    const c = new SpectralRestrictedIsometry([5, 4], { seed: 4, nPowerIterations: 1 });
    expect(a.penalty(p, { addToGrad: false })).toBe(b.penalty(p, { addToGrad: false }));
    expect(a.penalty(p, { addToGrad: false })).not.toBe(c.penalty(p, { addToGrad: false }));
    const saved = JSON.parse(JSON.stringify(a.stateDict()));
    const restored = new SpectralRestrictedIsometry([5, 4], { seed: 99, nPowerIterations: 1 });
    restored.loadStateDict(saved);
    expect(restored.stateDict()).toEqual(a.stateDict());
    expect(restored.penalty(p, { addToGrad: false })).toBe(a.penalty(p, { addToGrad: false }));
    expect(() => restored.loadStateDict({ v: { dtype: 'float64', shape: [3], data: [1, 2, 3] } })).toThrow(/expected 4/);
  });

  test('the warm-started estimate converges over calls and float32 weights work', () => {
    const x = testValues(8 * 5, 21);
    const p32 = new Parameter(Float32Array.from(x), [8, 5]);
    const exact = new SpectralRestrictedIsometry([8, 5], { nPowerIterations: 5000 }).penalty(new Parameter(x, [8, 5]), {
      addToGrad: false,
    });
    const srip = new SpectralRestrictedIsometry([8, 5], { nPowerIterations: 2, seed: 5 });
    let v = 0;
    for (let k = 0; k < 300; k++) v = srip.penalty(p32, { addToGrad: false });
    expect(Math.abs(v - exact) / exact).toBeLessThan(1e-5);
    srip.penalty(p32);
    expect(p32.grad).toBeInstanceOf(Float32Array);
    expect(Math.abs(srip.eigenvalue) * srip.lambda).toBeCloseTo(v, 5);
  });

  test('options are validated and the weight shape must match', () => {
    expect(() => new SpectralRestrictedIsometry([3, 3], { nPowerIterations: 0 })).toThrow(/nPowerIterations/);
    expect(() => new SpectralRestrictedIsometry([3, 3], { lambda: -1 })).toThrow(/lambda/);
    const srip = new SpectralRestrictedIsometry([3, 3]);
    expect(() => srip.penalty(new Parameter(new Float64Array(6), [2, 3]))).toThrow(/expected a \[3, 3\] matrix view/);
  });
});
