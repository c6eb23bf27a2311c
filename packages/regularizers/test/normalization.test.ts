import { SpectralNorm, weightStandardization, weightStandardizationBackward } from '../src/index';
import { expectGradClose, expectVjpClose, testValues } from './helpers/gradcheck';

/** Largest singular value by power iteration on WᵀW (test oracle). */
function sigmaMax(w: ArrayLike<number>, r: number, c: number): number {
  let v = new Float64Array(c).fill(1);
  let s = 0;
  for (let it = 0; it < 3000; it++) {
    const t = new Float64Array(r);
    for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) t[i] = t[i]! + w[i * c + j]! * v[j]!;
    const u = new Float64Array(c);
    for (let j = 0; j < c; j++) for (let i = 0; i < r; i++) u[j] = u[j]! + w[i * c + j]! * t[i]!;
    const norm = Math.hypot(...u);
    s = Math.sqrt(norm);
    v = u.map((x) => x / norm);
  }
  return s;
}

describe('SpectralNorm', () => {
  test('power iteration converges to the largest singular value and W/σ has spectral norm 1', () => {
    const w = testValues(4 * 6, 17);
    const sn = new SpectralNorm([4, 2, 3], { seed: 1, nPowerIterations: 200 });
    const out = new Float64Array(24);
    const sigma = sn.forward(w, out);
    expect(sigma).toBeCloseTo(sigmaMax(w, 4, 6), 12);
    expect(sn.sigma).toBe(sigma);
    expect(sigmaMax(out, 4, 6)).toBeCloseTo(1, 12);
  });

  test('the backward equals the vector-Jacobian product of W ↦ W/(uᵀWv) with u, v fixed (central differences)', () => {
    const w = testValues(3 * 5, 23);
    const sn = new SpectralNorm([3, 5], { seed: 2, nPowerIterations: 3 });
    sn.forward(w, new Float64Array(15));
    const gy = testValues(15, 29);
    const gw = sn.backward(w, gy, new Float64Array(15));
    // Evaluation mode reuses the stored u, v: exactly the function the backward differentiates.
    expectVjpClose((y) => sn.forward(w, y, { training: false }), w, 15, gy, gw);
  });

  test('backward accumulates on request, and requires a forward first', () => {
    const w = testValues(6, 3);
    const sn = new SpectralNorm([2, 3]);
    expect(() => sn.backward(w, w, new Float64Array(6))).toThrow(/forward/);
    sn.forward(w, new Float64Array(6));
    const g1 = sn.backward(w, w, new Float64Array(6));
    const g2 = sn.backward(w, w, new Float64Array(6).fill(1), { accumulate: true });
    for (let i = 0; i < 6; i++) expect(g2[i]).toBeCloseTo(g1[i]! + 1, 15);
  });

  test('the same seed gives the same u, v and a different seed different ones; stateDict round-trips losslessly', () => {
    const a = new SpectralNorm([3, 4], { seed: 5 });
    const b = new SpectralNorm([3, 4], { seed: 5 });
    const c = new SpectralNorm([3, 4], { seed: 6 });
    expect(a.stateDict()).toEqual(b.stateDict());
    expect(a.stateDict()).not.toEqual(c.stateDict());
    const w = testValues(12, 1);
    a.forward(w, new Float64Array(12));
    const saved = JSON.parse(JSON.stringify(a.stateDict()));
    c.loadStateDict(saved);
    const { u, v } = c.vectors();
    expect(Array.from(u)).toEqual(Array.from(a.vectors().u));
    expect(Array.from(v)).toEqual(Array.from(a.vectors().v));
    const o1 = new Float64Array(12);
    const o2 = new Float64Array(12);
    expect(a.forward(w, o1)).toBe(c.forward(w, o2));
    expect(() => c.loadStateDict({ u: saved.u, v: { dtype: 'float64', shape: [1], data: [1] } })).toThrow(/expected 4/);
  });

  test('float32 weights give a float32 output close to the float64 result', () => {
    const w = testValues(20, 41);
    const o64 = new Float64Array(20);
    const o32 = new Float32Array(20);
    new SpectralNorm([4, 5], { seed: 3, nPowerIterations: 50 }).forward(w, o64);
    new SpectralNorm([4, 5], { seed: 3, nPowerIterations: 50 }).forward(Float32Array.from(w), o32);
    for (let i = 0; i < 20; i++) expect(Math.abs(o32[i]! - o64[i]!)).toBeLessThan(1e-6);
  });

  test('options and shapes are validated', () => {
    expect(() => new SpectralNorm([3])).toThrow(/2 dimensions/);
    expect(() => new SpectralNorm([3, 3], { eps: 0 })).toThrow(/eps/);
    expect(() => new SpectralNorm([3, 3]).forward(new Float64Array(8), new Float64Array(9))).toThrow(/expected 9/);
  });
});

describe('weightStandardization', () => {
  test('each output channel has zero mean and unit variance (up to eps)', () => {
    const w = testValues(3 * 8, 51).map((x, i) => x * (i % 3) + 2);
    const out = weightStandardization(w, [3, 2, 4], new Float64Array(24), 0);
    for (let o = 0; o < 3; o++) {
      const row = out.subarray(o * 8, o * 8 + 8);
      const mean = row.reduce((a, b) => a + b, 0) / 8;
      const variance = row.reduce((a, b) => a + (b - mean) ** 2, 0) / 8;
      expect(Math.abs(mean)).toBeLessThan(1e-15);
      expect(variance).toBeCloseTo(1, 14);
    }
  });

  test.each([0, 1e-5, 0.5])('the backward matches central differences of the forward (eps %p)', (eps) => {
    const w = testValues(4 * 6, 61);
    const gy = testValues(24, 67);
    const gw = weightStandardizationBackward(w, [4, 6], gy, new Float64Array(24), eps);
    expectVjpClose((y) => weightStandardization(w, [4, 6], y, eps), w, 24, gy, gw);
  });

  test('a scalar loss through the standardised weight has the right gradient and accumulate adds', () => {
    const w = testValues(10, 71);
    const target = testValues(10, 73);
    const loss = (): number => {
      const y = weightStandardization(w, [2, 5], new Float64Array(10));
      return y.reduce((a, v, i) => a + (v - target[i]!) ** 2, 0);
    };
    const y = weightStandardization(w, [2, 5], new Float64Array(10));
    const gy = y.map((v, i) => 2 * (v - target[i]!));
    const gw = new Float64Array(10).fill(0.5);
    weightStandardizationBackward(w, [2, 5], gy, gw, 1e-5, { accumulate: true });
    expectGradClose(loss, w, gw.map((g) => g - 0.5));
  });

  test('float32 weights work and shapes are validated', () => {
    const w = Float32Array.from(testValues(12, 81));
    const out = weightStandardization(w, [3, 4], new Float32Array(12));
    const ref = weightStandardization(Float64Array.from(w), [3, 4], new Float64Array(12));
    for (let i = 0; i < 12; i++) expect(Math.abs(out[i]! - ref[i]!)).toBeLessThan(1e-6);
    expect(() => weightStandardization(w, [12], new Float32Array(12))).toThrow(/at least 2/);
    expect(() => weightStandardization(w, [3, 4], new Float32Array(11))).toThrow(/out/);
    expect(() => weightStandardization(w, [3, 4], new Float32Array(12), -1)).toThrow(/eps/);
  });
});
